//! RabbitMQ sink: a durable topic exchange, publisher confirms, `mandatory`.
//!
//! The sink owns its connection. When the connection or channel breaks, the
//! publish in progress fails (its story stays unfinished and is retried by
//! the pipeline) and the next publish reconnects and declares the topology
//! again. Every confirm has a timeout, so a silent broker cannot hold a
//! story forever.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use lapin::Confirmation;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::PublishError;
use crate::config::BrokerConfig;
use crate::message::Envelope;

struct Link {
    connection: Connection,
    channel: Channel,
}

impl Link {
    fn is_open(&self) -> bool {
        self.connection.status().connected() && self.channel.status().connected()
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
        let channel = connection.create_channel().await.map_err(conn_err)?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(conn_err)?;
        channel
            .exchange_declare(
                self.config.exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(conn_err)?;
        for queue in &self.config.queues {
            let mut arguments = FieldTable::default();
            arguments.insert(
                "x-queue-type".into(),
                AMQPValue::LongString("quorum".into()),
            );
            channel
                .queue_declare(
                    queue.name.as_str().into(),
                    QueueDeclareOptions {
                        durable: true,
                        ..QueueDeclareOptions::default()
                    },
                    arguments,
                )
                .await
                .map_err(conn_err)?;
            channel
                .queue_bind(
                    queue.name.as_str().into(),
                    self.config.exchange.as_str().into(),
                    queue.binding.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(conn_err)?;
        }
        Ok(Link {
            connection,
            channel,
        })
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

    /// Publishes one message to `destination` and waits for its confirm.
    pub async fn publish_to(
        &self,
        envelope: &Envelope,
        destination: &Destination,
    ) -> Result<(), PublishError> {
        let link = self.current_link().await?;
        let mut properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_message_id(envelope.message_id.as_str().into())
            .with_type(envelope.event.amqp_type().into())
            .with_timestamp(envelope.timestamp.max(0) as u64)
            .with_app_id("feedwire".into());
        if destination.replay {
            let mut headers = FieldTable::default();
            headers.insert("x-feedwire-replay".into(), AMQPValue::Boolean(true));
            properties = properties.with_headers(headers);
        }
        let exchange = destination
            .exchange
            .as_deref()
            .unwrap_or(&self.config.exchange);
        let routing_key = destination
            .routing_key
            .as_deref()
            .unwrap_or(&envelope.routing_key);
        let published = link
            .channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &envelope.body,
                properties,
            )
            .await;
        let confirm = match published {
            Ok(confirm) => confirm,
            Err(e) => {
                self.forget(&link).await;
                return Err(PublishError::Connection(e.to_string()));
            }
        };
        let confirmation = match tokio::time::timeout(self.config.confirm_timeout, confirm).await {
            Err(_) => {
                // A confirm that never comes means the channel is in trouble.
                self.forget(&link).await;
                return Err(PublishError::ConfirmTimeout(self.config.confirm_timeout));
            }
            Ok(Err(e)) => {
                self.forget(&link).await;
                return Err(PublishError::Connection(e.to_string()));
            }
            Ok(Ok(confirmation)) => confirmation,
        };
        match confirmation {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(returned)) => Err(PublishError::Returned {
                code: returned.reply_code,
                text: returned.reply_text.to_string(),
            }),
            Confirmation::Nack(_) => Err(PublishError::Nacked),
            Confirmation::NotRequested => Err(PublishError::Connection(
                "publisher confirms are not enabled on the channel".into(),
            )),
        }
    }

    pub async fn close(&self) {
        let link = self.link.lock().await.take();
        self.connected.store(false, Ordering::Relaxed);
        if let Some(link) = link {
            let _ = link.channel.close(200, "bye".into()).await;
            let _ = link.connection.close(200, "bye".into()).await;
        }
    }
}

/// The broker URL without its password, for logs: the one redaction, shared
/// with `check-config` ([`crate::config::redact_url`]).
pub fn redact_url(url: &str) -> String {
    crate::config::redact_url(url)
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
