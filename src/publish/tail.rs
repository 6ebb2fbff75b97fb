//! `feedwire tail`: what is being published right now, for an operator.
//!
//! A temporary queue (exclusive, auto-deleted, server-named) is bound to the
//! exchange, so tailing never takes messages from the consumers' queues.

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use std::io::Write;
use tokio_util::sync::CancellationToken;

use super::PublishError;
use crate::config::BrokerConfig;

/// Prints every message published to the exchange under `binding` as one
/// JSON line `{"routing_key","message_id","type","message"}` until `stop`
/// fires or `limit` messages were printed.
pub async fn tail(
    config: &BrokerConfig,
    binding: &str,
    limit: Option<usize>,
    stop: CancellationToken,
) -> Result<(), PublishError> {
    let conn_err = |e: lapin::Error| PublishError::Connection(e.to_string());
    let connection = Connection::connect(
        &config.url,
        ConnectionProperties::default().with_connection_name("feedwire tail".into()),
    )
    .await
    .map_err(conn_err)?;
    let channel = connection.create_channel().await.map_err(conn_err)?;
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
        let line = serde_json::json!({
            "routing_key": delivery.routing_key.as_str(),
            "message_id": props.message_id().as_ref().map(|v| v.as_str()),
            "type": props.kind().as_ref().map(|v| v.as_str()),
            "message": message,
        });
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
        printed += 1;
    }
    let _ = connection.close(200, "tail done".into()).await;
    Ok(())
}
