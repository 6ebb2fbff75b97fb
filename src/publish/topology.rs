//! The exchange and queues the worker declares, at start and on every
//! reconnect. A queue that exists with other arguments is an error naming
//! the queue and both argument sets: re-declaring it silently would either
//! fail later or leave consumers on a queue that is not what the config says.

use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

use super::PublishError;
use crate::config::{BrokerConfig, QueueConfig, QueueKind};

/// The `x-` arguments a queue is declared with, as `(name, value)`.
pub fn queue_arguments(queue: &QueueConfig) -> Vec<(&'static str, AMQPValue)> {
    let mut arguments = vec![(
        "x-queue-type",
        AMQPValue::LongString(queue.kind.as_str().into()),
    )];
    if queue.kind == QueueKind::Stream {
        if let Some(age) = queue.max_age {
            arguments.push(("x-max-age", AMQPValue::LongString(max_age(age).into())));
        }
        if let Some(bytes) = queue.max_length_bytes {
            arguments.push((
                "x-max-length-bytes",
                AMQPValue::LongLongInt(bytes.min(i64::MAX as u64) as i64),
            ));
        }
    }
    arguments
}

/// A stream's retention as RabbitMQ writes it: `7D`, `12h`, `30m`, `45s`.
fn max_age(age: Duration) -> String {
    let secs = age.as_secs().max(1);
    [(86_400, "D"), (3_600, "h"), (60, "m")]
        .iter()
        .find(|(unit, _)| secs.is_multiple_of(*unit))
        .map_or_else(
            || format!("{secs}s"),
            |(unit, name)| format!("{}{name}", secs / unit),
        )
}

fn describe(arguments: &[(&str, AMQPValue)]) -> String {
    let parts: Vec<String> = arguments
        .iter()
        .map(|(name, value)| match value {
            AMQPValue::LongString(text) => format!("{name}={text}"),
            AMQPValue::LongLongInt(n) => format!("{name}={n}"),
            other => format!("{name}={other:?}"),
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Declares the durable topic exchange and every configured queue, bound.
pub(super) async fn declare(channel: &Channel, config: &BrokerConfig) -> Result<(), PublishError> {
    let connection_error = |e: lapin::Error| PublishError::Connection(e.to_string());
    channel
        .exchange_declare(
            config.exchange.as_str().into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(connection_error)?;
    for queue in &config.queues {
        let arguments = queue_arguments(queue);
        let mut table = FieldTable::default();
        for (name, value) in &arguments {
            table.insert((*name).into(), value.clone());
        }
        let declared = channel
            .queue_declare(
                queue.name.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                table,
            )
            .await;
        if let Err(error) = declared {
            let text = error.to_string();
            // 406 PRECONDITION_FAILED: "inequivalent arg 'x-…' for queue …:
            // received … but current is …" — the broker's side of the story.
            if text.contains("PRECONDITION") || text.contains("inequivalent") {
                return Err(PublishError::Topology {
                    queue: queue.name.clone(),
                    existing: text,
                    declared: describe(&arguments),
                });
            }
            return Err(connection_error(error));
        }
        channel
            .queue_bind(
                queue.name.as_str().into(),
                config.exchange.as_str().into(),
                queue.binding.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(connection_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_retention_in_rabbitmq_units() {
        assert_eq!(max_age(Duration::from_secs(7 * 86_400)), "7D");
        assert_eq!(max_age(Duration::from_secs(36 * 3_600)), "36h");
        assert_eq!(max_age(Duration::from_secs(90)), "90s");
        assert_eq!(max_age(Duration::from_secs(120)), "2m");
        let stream = QueueConfig {
            name: "history".into(),
            binding: "article.#".into(),
            kind: QueueKind::Stream,
            max_age: Some(Duration::from_secs(7 * 86_400)),
            max_length_bytes: Some(1 << 30),
        };
        assert_eq!(
            describe(&queue_arguments(&stream)),
            "{x-queue-type=stream, x-max-age=7D, x-max-length-bytes=1073741824}"
        );
    }
}
