//! `feedwire tail`: what is being published right now, for an operator —
//! or, from a stream queue, what was published since a point in its history.
//!
//! Live, a temporary queue (exclusive, auto-deleted, server-named) is bound
//! to the exchange, so tailing never takes messages from the consumers'
//! queues. A stream is only read: any number of readers, from any offset.

use std::io::Write;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties};
use tokio_util::sync::CancellationToken;

use super::PublishError;
use crate::config::BrokerConfig;

/// Prints every message published to the exchange under `binding` as one
/// A connection of its own (named, so the management UI shows who reads)
/// and a channel on it.
async fn open(config: &BrokerConfig) -> Result<(Connection, Channel), PublishError> {
    let connection = Connection::connect(
        &config.url,
        ConnectionProperties::default().with_connection_name("feedwire tail".into()),
    )
    .await
    .map_err(conn_err)?;
    let channel = connection.create_channel().await.map_err(conn_err)?;
    Ok((connection, channel))
}

fn conn_err(e: lapin::Error) -> PublishError {
    PublishError::Connection(e.to_string())
}

/// JSON line `{"routing_key","message_id","type","message"}` until `stop`
/// fires or `limit` messages were printed.
pub async fn tail(
    config: &BrokerConfig,
    binding: &str,
    limit: Option<usize>,
    stop: CancellationToken,
) -> Result<(), PublishError> {
    let (connection, channel) = open(config).await?;
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(conn_err)?;
    channel
        .queue_bind(
            queue.name().clone(),
            config.exchange.as_str().into(),
            binding.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(conn_err)?;
    let mut consumer = channel
        .basic_consume(
            queue.name().clone(),
            "feedwire-tail".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(conn_err)?;
    eprintln!(
        "feedwire tail: exchange `{}`, binding `{binding}` (Ctrl-C to stop)",
        config.exchange
    );
    print_deliveries(&mut consumer, limit, &stop, false).await?;
    let _ = connection.close(200, "tail done".into()).await;
    Ok(())
}

/// Where reading a stream starts: `first`, `last` (the last chunk), `next`
/// (only what comes from now on), an offset, or a time (RFC 3339; the broker
/// starts at the first chunk written at or after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStart {
    First,
    Last,
    Next,
    Offset(u64),
    Time(DateTime<Utc>),
}

impl FromStr for StreamStart {
    type Err = String;

    fn from_str(text: &str) -> Result<StreamStart, String> {
        match text {
            "first" => Ok(StreamStart::First),
            "last" => Ok(StreamStart::Last),
            "next" => Ok(StreamStart::Next),
            _ => text
                .parse()
                .map(StreamStart::Offset)
                .or_else(|_| {
                    DateTime::parse_from_rfc3339(text).map(|t| StreamStart::Time(t.into()))
                })
                .map_err(|_| {
                    format!("`{text}`: use first, last, next, an offset or an RFC 3339 time")
                }),
        }
    }
}

impl StreamStart {
    /// The `x-stream-offset` consumer argument.
    pub fn argument(self) -> AMQPValue {
        match self {
            StreamStart::First => AMQPValue::LongString("first".into()),
            StreamStart::Last => AMQPValue::LongString("last".into()),
            StreamStart::Next => AMQPValue::LongString("next".into()),
            StreamStart::Offset(n) => AMQPValue::LongLongInt(n.min(i64::MAX as u64) as i64),
            StreamStart::Time(t) => AMQPValue::Timestamp(t.timestamp().max(0) as u64),
        }
    }
}

/// The offset of a delivery from a stream (its `x-stream-offset` header).
pub fn stream_offset(delivery: &Delivery) -> Option<u64> {
    let headers = delivery.properties.headers().as_ref()?;
    match headers.inner().get("x-stream-offset")? {
        AMQPValue::LongLongInt(n) => u64::try_from(*n).ok(),
        AMQPValue::LongInt(n) => u64::try_from(*n).ok(),
        AMQPValue::LongUInt(n) => Some(u64::from(*n)),
        _ => None,
    }
}

/// Prints the messages of the stream queue `queue` from `start` as JSON lines
/// (with their `offset`) until `stop` or `limit`.
pub async fn tail_stream(
    config: &BrokerConfig,
    queue: &str,
    start: StreamStart,
    limit: Option<usize>,
    stop: CancellationToken,
) -> Result<(), PublishError> {
    let (connection, channel) = open(config).await?;
    // Streams are read with acknowledgements and a prefetch.
    channel
        .basic_qos(500, BasicQosOptions::default())
        .await
        .map_err(conn_err)?;
    let mut arguments = FieldTable::default();
    arguments.insert("x-stream-offset".into(), start.argument());
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            "feedwire-tail".into(),
            BasicConsumeOptions::default(),
            arguments,
        )
        .await
        .map_err(conn_err)?;
    eprintln!("feedwire tail: stream `{queue}` from {start:?} (Ctrl-C to stop)");
    print_deliveries(&mut consumer, limit, &stop, true).await?;
    let _ = connection.close(200, "tail done".into()).await;
    Ok(())
}

/// Prints deliveries as JSON lines; acknowledges them when `ack` (streams).
async fn print_deliveries(
    consumer: &mut lapin::Consumer,
    limit: Option<usize>,
    stop: &CancellationToken,
    ack: bool,
) -> Result<(), PublishError> {
    let mut printed = 0usize;
    while limit.is_none_or(|l| printed < l) {
        let delivery = tokio::select! {
            next = consumer.next() => next,
            _ = stop.cancelled() => None,
        };
        let Some(delivery) = delivery else { break };
        let delivery = delivery.map_err(conn_err)?;
        let props = &delivery.properties;
        let message: serde_json::Value = serde_json::from_slice(&delivery.data)
            .unwrap_or_else(|_| String::from_utf8_lossy(&delivery.data).into_owned().into());
        let mut line = serde_json::json!({
            "routing_key": delivery.routing_key.as_str(),
            "message_id": props.message_id().as_ref().map(|v| v.as_str()),
            "type": props.kind().as_ref().map(|v| v.as_str()),
            "message": message,
        });
        if let Some(offset) = stream_offset(&delivery) {
            line["offset"] = offset.into();
        }
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{line}")?;
            out.flush()?;
        }
        if ack {
            delivery
                .ack(BasicAckOptions::default())
                .await
                .map_err(conn_err)?;
        }
        printed += 1;
    }
    Ok(())
}
