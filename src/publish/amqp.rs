//! RabbitMQ sink: a durable topic exchange, publisher confirms, `mandatory`.
//!
//! The sink owns its connection. When the connection or channel breaks, the
//! publish in progress fails (its story stays unfinished and is retried by
//! the pipeline) and the next publish reconnects and declares the topology
//! again. Every confirm has a timeout, so a silent broker cannot hold a
//! story forever.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use lapin::Confirmation;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio::sync::{Mutex, Semaphore};
use tokio_util::sync::CancellationToken;

use super::PublishError;
use crate::config::BrokerConfig;
use crate::message::Envelope;

/// Publishes in flight at once per sink (each on a channel of its own).
const MAX_CHANNELS: usize = 128;

/// An open connection and its channels.
///
/// Each channel carries one unconfirmed message at a time. lapin pairs a
/// `basic.return` with whichever confirm it resolves next on the channel
/// (and resolves a multiple-ack in hash-map order), so with several
/// messages in flight on one channel an unroutable message can be credited
/// to another. With one, the return that precedes a confirm is its own.
struct Link {
    connection: Connection,
    idle: std::sync::Mutex<Vec<Channel>>,
}

impl Link {
    fn is_open(&self) -> bool {
        self.connection.status().connected()
    }

    /// An idle channel, or a new one in confirm mode.
    async fn channel(&self) -> Result<Channel, lapin::Error> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match idle {
                Some(channel) if channel.status().connected() => return Ok(channel),
                Some(_) => continue,
                None => break,
            }
        }
        let channel = self.connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(channel)
    }

    fn give_back(&self, channel: Channel) {
        if channel.status().connected() {
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(channel);
        }
    }
}

/// Where a message goes when not to the configured exchange under its own
/// routing key (a replay, say).
#[derive(Debug, Clone, Default)]
pub struct Destination {
    pub exchange: Option<String>,
    pub routing_key: Option<String>,
    /// Adds the header `x-feedwire-replay: true`.
    pub replay: bool,
}

pub struct AmqpSink {
    config: BrokerConfig,
    link: Mutex<Option<Arc<Link>>>,
    connected: AtomicBool,
    /// Bounds the channels (and so the unconfirmed messages) of the sink.
    in_flight: Semaphore,
}

impl AmqpSink {
    /// Connects and declares the topology, retrying with backoff until it
    /// works or `shutdown` fires (the broker may start after the worker).
    pub async fn connect(
        config: BrokerConfig,
        shutdown: &CancellationToken,
    ) -> Result<AmqpSink, PublishError> {
        let sink = AmqpSink {
            config,
            link: Mutex::new(None),
            connected: AtomicBool::new(false),
            in_flight: Semaphore::new(MAX_CHANNELS),
        };
        let attempt = || async { sink.current_link().await.map(|_| ()) };
        let retrying = attempt
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(500))
                    .with_max_delay(Duration::from_secs(30))
                    .with_jitter()
                    .with_max_times(usize::MAX),
            )
            // A queue that exists with other arguments will not fix itself.
            .when(|error| !matches!(error, PublishError::Topology { .. }))
            .notify(|error, delay| {
                tracing::warn!(%error, retry_in = ?delay, broker = %redact_url(&sink.config.url), "broker not reachable, retrying");
            });
        tokio::select! {
            result = retrying => result?,
            _ = shutdown.cancelled() => return Err(PublishError::ShuttingDown),
        }
        Ok(sink)
    }

    /// Whether the connection is open now; a connection closed by the broker
    /// shows here before the next publish notices.
    pub fn is_connected(&self) -> bool {
        match self.link.try_lock() {
            Ok(guard) => guard.as_ref().is_some_and(|link| link.is_open()),
            // Someone is (re)connecting or checking: the last known state.
            Err(_) => self.connected.load(Ordering::Relaxed),
        }
    }

    /// The open link, or a new one (connect, confirm mode, topology).
    async fn current_link(&self) -> Result<Arc<Link>, PublishError> {
        let mut guard = self.link.lock().await;
        if let Some(link) = guard.as_ref()
            && link.is_open()
        {
            return Ok(Arc::clone(link));
        }
        self.connected.store(false, Ordering::Relaxed);
        if let Some(old) = guard.take() {
            tracing::warn!(broker = %redact_url(&self.config.url), "broker connection lost; reconnecting");
            let _ = old.connection.close(200, "reconnecting".into()).await;
        }
        let link = Arc::new(self.open_link().await?);
        *guard = Some(Arc::clone(&link));
        self.connected.store(true, Ordering::Relaxed);
        tracing::info!(broker = %redact_url(&self.config.url), exchange = %self.config.exchange, "connected to broker");
        Ok(link)
    }

    async fn open_link(&self) -> Result<Link, PublishError> {
        let conn_err = |e: lapin::Error| PublishError::Connection(e.to_string());
        let properties = ConnectionProperties::default().with_connection_name("feedwire".into());
        let connection = Connection::connect(&self.config.url, properties)
            .await
            .map_err(conn_err)?;
        let link = Link {
            connection,
            idle: std::sync::Mutex::new(Vec::new()),
        };
        let channel = link.channel().await.map_err(conn_err)?;
        super::topology::declare(&channel, &self.config).await?;
        link.give_back(channel);
        Ok(link)
    }

    async fn forget(&self, broken: &Arc<Link>) {
        let mut guard = self.link.lock().await;
        if guard.as_ref().is_some_and(|l| Arc::ptr_eq(l, broken)) {
            *guard = None;
            self.connected.store(false, Ordering::Relaxed);
            tracing::warn!(broker = %redact_url(&self.config.url), "broker connection lost; unconfirmed messages will be re-sent after reconnecting");
        }
    }

    /// Publishes one message and waits for its confirm.
    pub async fn publish(&self, envelope: &Envelope) -> Result<(), PublishError> {
        self.publish_to(envelope, &Destination::default()).await
    }

    /// Publishes one message to `destination` and waits for its confirm,
    /// alone on its channel: a return before the confirm is its own.
    pub async fn publish_to(
        &self,
        envelope: &Envelope,
        destination: &Destination,
    ) -> Result<(), PublishError> {
        self.publish_ordered(std::slice::from_ref(envelope), destination)
            .await
            .remove(0)
    }

    /// Publishes `envelopes` in this order on one channel (so they reach
    /// each queue in this order), waits for every confirm and returns one
    /// result per message. Returns are matched to messages by `message_id`,
    /// never by which confirm lapin attached them to, so the ids must be
    /// distinct within the batch.
    pub async fn publish_ordered(
        &self,
        envelopes: &[Envelope],
        destination: &Destination,
    ) -> Vec<Result<(), PublishError>> {
        let fail_all = |error: PublishError| {
            let text = error.to_string();
            let mut results = vec![Err(error)];
            results
                .extend((1..envelopes.len()).map(|_| Err(PublishError::Connection(text.clone()))));
            results
        };
        let Ok(_permit) = self.in_flight.acquire().await else {
            return fail_all(PublishError::ShuttingDown);
        };
        let link = match self.current_link().await {
            Ok(link) => link,
            Err(error) => return fail_all(error),
        };
        let channel = match link.channel().await {
            Ok(channel) => channel,
            Err(e) => {
                self.forget(&link).await;
                return fail_all(PublishError::Connection(e.to_string()));
            }
        };
        let exchange = destination
            .exchange
            .as_deref()
            .unwrap_or(&self.config.exchange);
        let mut confirms = Vec::with_capacity(envelopes.len());
        for envelope in envelopes {
            let routing_key = destination
                .routing_key
                .as_deref()
                .unwrap_or(&envelope.routing_key);
            let published = channel
                .basic_publish(
                    exchange.into(),
                    routing_key.into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    &envelope.body,
                    properties(envelope, destination),
                )
                .await;
            match published {
                Ok(confirm) => confirms.push(confirm),
                Err(e) => {
                    self.forget(&link).await;
                    return fail_all(PublishError::Connection(e.to_string()));
                }
            }
        }
        let all = futures_util::future::join_all(confirms);
        let confirmations = match tokio::time::timeout(self.config.confirm_timeout, all).await {
            Err(_) => {
                // A confirm that never comes means the connection is in trouble.
                self.forget(&link).await;
                return fail_all(PublishError::ConfirmTimeout(self.config.confirm_timeout));
            }
            Ok(confirmations) => confirmations,
        };
        let mut confirmed = Vec::with_capacity(confirmations.len());
        for confirmation in confirmations {
            match confirmation {
                Ok(confirmation) => confirmed.push(confirmation),
                Err(e) => {
                    self.forget(&link).await;
                    return fail_all(PublishError::Connection(e.to_string()));
                }
            }
        }
        link.give_back(channel);
        outcomes(envelopes, confirmed)
    }

    pub async fn close(&self) {
        let link = self.link.lock().await.take();
        self.connected.store(false, Ordering::Relaxed);
        if let Some(link) = link {
            let _ = link.connection.close(200, "bye".into()).await;
        }
    }
}

/// The broker URL without its password, for logs: the one redaction, shared
/// with `check-config` ([`crate::config::redact_url`]).
pub fn redact_url(url: &str) -> String {
    crate::config::redact_url(url)
}

/// The AMQP properties of a message.
fn properties(envelope: &Envelope, destination: &Destination) -> BasicProperties {
    let properties = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_message_id(envelope.message_id.as_str().into())
        .with_type(envelope.event.amqp_type().into())
        .with_timestamp(envelope.timestamp.max(0) as u64)
        .with_app_id("feedwire".into());
    if destination.replay {
        let mut headers = FieldTable::default();
        headers.insert("x-feedwire-replay".into(), AMQPValue::Boolean(true));
        properties.with_headers(headers)
    } else {
        properties
    }
}

/// What the confirms of a batch say about each of its messages. lapin hands
/// each `basic.return` to whichever confirm it resolves next, but every
/// return of the batch has arrived once all its confirms have (a return
/// precedes its message's ack): so the returns are gathered from all the
/// confirms and matched to messages by `message_id`.
fn outcomes(
    envelopes: &[Envelope],
    confirmations: Vec<Confirmation>,
) -> Vec<Result<(), PublishError>> {
    let mut returned: HashMap<String, (u16, String)> = HashMap::new();
    let mut nacked = Vec::with_capacity(confirmations.len());
    let mut unmatched = None;
    for confirmation in confirmations {
        let (nack, message) = match confirmation {
            Confirmation::Ack(message) => (false, message),
            Confirmation::Nack(message) => (true, message),
            Confirmation::NotRequested => (true, None),
        };
        nacked.push(nack);
        if let Some(message) = message {
            let id = message
                .properties
                .message_id()
                .as_ref()
                .map(|id| id.as_str().to_string());
            let reply = (message.reply_code, message.reply_text.to_string());
            match id {
                Some(id) if envelopes.iter().any(|e| e.message_id == id) => {
                    returned.insert(id, reply);
                }
                other => unmatched = Some(other.unwrap_or_default()),
            }
        }
    }
    envelopes
        .iter()
        .zip(nacked)
        .map(|(envelope, nack)| {
            if let Some((code, text)) = returned.get(&envelope.message_id) {
                Err(PublishError::Returned {
                    code: *code,
                    text: text.clone(),
                })
            } else if nack {
                Err(PublishError::Nacked)
            } else if let Some(other) = &unmatched {
                // A return that names no message of the batch: the pairing
                // cannot be trusted, so nothing is taken as delivered.
                Err(PublishError::Ambiguous {
                    returned: other.clone(),
                })
            } else {
                Ok(())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password() {
        assert_eq!(
            redact_url("amqp://guest:secret@rabbit:5672/%2f"),
            "amqp://guest:***@rabbit:5672/%2f"
        );
        assert_eq!(redact_url("amqp://rabbit/"), "amqp://rabbit/");
    }
}
