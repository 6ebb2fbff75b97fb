//! An idempotent consumer of feedwire's article messages, to copy.
//!
//! feedwire delivers at least once: after a crash between a broker confirm
//! and the store commit, a message is sent again with the same
//! `message_id`. A consumer therefore remembers the ids it has processed and
//! acks duplicates without processing them again. Acks are manual and sent
//! only after processing, and `prefetch` bounds the unacked messages.
//!
//! Run: `cargo run --example consumer -- --queue feedwire.articles.all`
//! Each processed message is printed as one JSON line:
//! `{"routing_key", "message_id", "type", "delivery_mode", "content_type", "timestamp", "body"}`.
//! `--idle-exit SECS` stops after that long without a message (for scripts).
//!
//! Copies: a story another source published first carries `duplicate_of`
//! (the original's id, URL and similarity) and the original's id as
//! `cluster`. `--skip-copies` acks such messages without processing them,
//! so each story is processed once however many sites run it; without it,
//! group them by `cluster`.
//!
//! History: `--stream feedwire.articles.history --from first` reads a stream
//! queue from its beginning (or `last`, `next`, an offset, an RFC 3339 time)
//! and then follows live messages, with the same deduplication. It remembers
//! the offset it processed last (`--offset-file`, by default
//! `<stream>.offset` in the working directory) and resumes after it.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use feedwire::publish::{StreamStart, stream_offset};

use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};

struct Args {
    url: String,
    queue: String,
    prefetch: u16,
    idle_exit: Option<Duration>,
    /// A stream queue to read history from.
    stream: Option<String>,
    from: StreamStart,
    offset_file: Option<PathBuf>,
    /// Ack near-duplicates of earlier stories without processing them.
    skip_copies: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        url: std::env::var("FEEDWIRE_BROKER_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into()),
        queue: "feedwire.articles.all".into(),
        prefetch: 64,
        idle_exit: None,
        stream: None,
        from: StreamStart::First,
        offset_file: None,
        skip_copies: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--skip-copies" {
            args.skip_copies = true;
            continue;
        }
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--url" => args.url = value,
            "--queue" => args.queue = value,
            "--prefetch" => args.prefetch = value.parse().expect("--prefetch takes a number"),
            "--idle-exit" => {
                args.idle_exit = Some(Duration::from_secs_f64(
                    value.parse().expect("--idle-exit takes seconds"),
                ))
            }
            "--stream" => args.stream = Some(value),
            "--from" => {
                args.from = value
                    .parse()
                    .expect("--from: first, last, next, N or a time")
            }
            "--offset-file" => args.offset_file = Some(value.into()),
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args();
    let connection = Connection::connect(&args.url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel
        .basic_qos(args.prefetch, BasicQosOptions::default())
        .await?;
    // A stream is read from an offset: after the one processed last, if
    // this consumer ran before, else from `--from`.
    let offset_file = args.stream.as_ref().map(|stream| {
        args.offset_file
            .clone()
            .unwrap_or_else(|| format!("{stream}.offset").into())
    });
    let mut arguments = FieldTable::default();
    if let Some(file) = &offset_file {
        let start = match std::fs::read_to_string(file) {
            Ok(text) => StreamStart::Offset(text.trim().parse::<u64>()? + 1),
            Err(_) => args.from,
        };
        arguments.insert("x-stream-offset".into(), start.argument());
    }
    let queue = args.stream.as_deref().unwrap_or(&args.queue);
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            "feedwire-example-consumer".into(),
            BasicConsumeOptions::default(),
            arguments,
        )
        .await?;

    // In production this set lives in the consumer's own database, written in
    // the same transaction as the processing result.
    let mut seen: HashSet<String> = HashSet::new();
    let mut duplicates = 0u64;
    let mut copies = 0u64;
    loop {
        let next = match args.idle_exit {
            Some(idle) => match tokio::time::timeout(idle, consumer.next()).await {
                Ok(next) => next,
                Err(_) => break,
            },
            None => consumer.next().await,
        };
        let Some(delivery) = next else { break };
        let delivery = delivery?;
        let props = &delivery.properties;
        let message_id = props
            .message_id()
            .as_ref()
            .map(|id| id.to_string())
            .unwrap_or_default();
        let offset = stream_offset(&delivery);
        if !seen.insert(message_id.clone()) {
            duplicates += 1;
            remember(offset_file.as_deref(), offset)?;
            delivery.ack(BasicAckOptions::default()).await?;
            continue;
        }
        let body: serde_json::Value = match serde_json::from_slice(&delivery.data) {
            Ok(body) => body,
            Err(e) => {
                eprintln!("consumer: message {message_id} is not JSON: {e}");
                serde_json::Value::Null
            }
        };
        if args.skip_copies
            && let Some(original) = copy_of(&body)
        {
            eprintln!("consumer: {message_id} repeats story {original}; skipped");
            copies += 1;
            remember(offset_file.as_deref(), offset)?;
            delivery.ack(BasicAckOptions::default()).await?;
            continue;
        }
        let line = serde_json::json!({
            "routing_key": delivery.routing_key.to_string(),
            "message_id": message_id,
            "type": props.kind().as_ref().map(|k| k.to_string()),
            "delivery_mode": props.delivery_mode(),
            "content_type": props.content_type().as_ref().map(|c| c.to_string()),
            "timestamp": props.timestamp(),
            "body": body,
        });
        println!("{line}");
        remember(offset_file.as_deref(), offset)?;
        delivery.ack(BasicAckOptions::default()).await?;
    }
    eprintln!(
        "consumer: {} messages, {} duplicates dropped, {} copies of earlier stories skipped",
        seen.len(),
        duplicates,
        copies
    );
    connection.close(200, "bye".into()).await?;
    Ok(())
}

/// Writes the stream offset processed last (atomically: a crash leaves the
/// old one or the new one). In production it lives with the processed ids.
fn remember(file: Option<&std::path::Path>, offset: Option<u64>) -> std::io::Result<()> {
    let (Some(file), Some(offset)) = (file, offset) else {
        return Ok(());
    };
    let temporary = file.with_extension("offset.tmp");
    std::fs::write(&temporary, offset.to_string())?;
    std::fs::rename(temporary, file)
}

/// The id of the earlier story this message's story repeats (another
/// source's copy), if any. Messages published before the field existed
/// have none.
fn copy_of(body: &serde_json::Value) -> Option<&str> {
    body.get("duplicate_of")?.get("id")?.as_str()
}
