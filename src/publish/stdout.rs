//! JSON lines on standard output: the sink for running without a broker.

use tokio::io::{AsyncWriteExt, Stdout};
use tokio::sync::Mutex;

use super::PublishError;
use crate::message::Envelope;

pub struct StdoutSink {
    out: Mutex<Stdout>,
}

impl Default for StdoutSink {
    fn default() -> Self {
        StdoutSink {
            out: Mutex::new(tokio::io::stdout()),
        }
    }
}

impl StdoutSink {
    pub async fn publish(&self, envelope: &Envelope) -> Result<(), PublishError> {
        let mut line = Vec::with_capacity(envelope.body.len() + 1);
        line.extend_from_slice(&envelope.body);
        line.push(b'\n');
        let mut out = self.out.lock().await;
        out.write_all(&line).await?;
        // Flushed per message: a line is "delivered" once it left the process.
        out.flush().await?;
        Ok(())
    }

    pub async fn flush(&self) {
        let _ = self.out.lock().await.flush().await;
    }
}
