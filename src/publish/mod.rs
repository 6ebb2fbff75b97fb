//! Where finished messages go: RabbitMQ with publisher confirms, or standard
//! output as JSON lines (to run without a broker).
//!
//! `publish` returns only once the message is safe: confirmed by the broker
//! and routed to at least one queue. A nack, a return (unroutable) or a
//! missing confirm is an error, and the story stays unfinished.

mod amqp;
mod stdout;
mod tail;
mod topology;

pub use amqp::{AmqpSink, Destination, redact_url};
pub use stdout::StdoutSink;
pub use tail::{StreamStart, stream_offset, tail, tail_stream};
pub use topology::queue_arguments;

use crate::message::Envelope;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("broker returned the message as unroutable: {code} {text}")]
    Returned { code: u16, text: String },
    #[error("broker nacked the message")]
    Nacked,
    #[error("confirm carried the return of another message ({returned}); not taken as delivered")]
    Ambiguous { returned: String },
    #[error("no confirm within {0:?}")]
    ConfirmTimeout(std::time::Duration),
    #[error("broker connection: {0}")]
    Connection(String),
    #[error("writing to stdout: {0}")]
    Io(#[from] std::io::Error),
    #[error("shutting down")]
    ShuttingDown,
    #[error(
        "queue `{queue}` exists with other arguments than the config's: the broker says \"{existing}\"; feedwire declares {declared}"
    )]
    Topology {
        queue: String,
        existing: String,
        declared: String,
    },
}

impl PublishError {
    /// A short label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            PublishError::Returned { .. } => "returned",
            PublishError::Nacked => "nacked",
            PublishError::Ambiguous { .. } => "ambiguous",
            PublishError::ConfirmTimeout(_) => "confirm_timeout",
            PublishError::Connection(_) => "connection_error",
            PublishError::Io(_) => "io_error",
            PublishError::ShuttingDown => "shutting_down",
            PublishError::Topology { .. } => "topology",
        }
    }
}

/// The configured destination of messages.
pub enum Sink {
    Amqp(AmqpSink),
    Stdout(StdoutSink),
}

impl Sink {
    pub async fn publish(&self, envelope: &Envelope) -> Result<(), PublishError> {
        match self {
            Sink::Amqp(sink) => sink.publish(envelope).await,
            Sink::Stdout(sink) => sink.publish(envelope).await,
        }
    }

    /// Whether messages can be delivered right now.
    pub fn is_connected(&self) -> bool {
        match self {
            Sink::Amqp(sink) => sink.is_connected(),
            Sink::Stdout(_) => true,
        }
    }

    pub async fn close(&self) {
        match self {
            Sink::Amqp(sink) => sink.close().await,
            Sink::Stdout(sink) => sink.flush().await,
        }
    }
}
