//! Stream queues against the real RabbitMQ: history any consumer reads on
//! its own, from any point, and a queue declared with other arguments than
//! the config's is a named error.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{
    BROKER_URL, Capture, RSS, Route, STORIES, farm, feeds, feedwire, stderr, write_config,
};
use lapin::options::{QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Connection, ConnectionProperties};

fn stream_queue(name: &str) -> String {
    format!(
        "\n[[broker.queues]]\nname = \"{name}\"\nbinding = \"article.#\"\ntype = \"stream\"\nmax_age = \"1h\"\n"
    )
}

/// `feedwire tail --stream Q --from FROM`: the message ids it prints.
async fn read_stream(config: &str, queue: &str, from: &str, limit: usize) -> Vec<String> {
    let limit = limit.to_string();
    let output = feedwire(&[
        "tail", "--config", config, "--stream", queue, "--from", from, "--limit", &limit,
    ])
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let line: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(line["offset"].is_u64(), "{line}");
            line["message_id"].as_str().unwrap().to_string()
        })
        .collect()
}

async fn delete_queue(name: &str) {
    let connection = Connection::connect(BROKER_URL, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let _ = channel
        .queue_delete(name.into(), QueueDeleteOptions::default())
        .await;
    let _ = connection.close(200, "done".into()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_serves_history_to_independent_readers() {
    let server = farm().await;
    let capture = Capture::new("stream").await;
    let history = format!("{}.history", capture.exchange);
    let dir = tempfile::tempdir().unwrap();
    let mut sources = feeds(&server);
    sources.push(("late", server.url("/feeds/late.xml")));
    server.route(
        "/feeds/late.xml",
        Route::ok(
            RSS,
            "<rss version=\"2.0\"><channel><title>t</title></channel></rss>",
        ),
    );
    let config = write_config(
        dir.path(),
        &capture.exchange,
        &sources,
        &stream_queue(&history),
    );
    let config = config.to_str().unwrap();
    let output = feedwire(&["run", "--once", "--config", config]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let published: HashSet<String> = capture
        .drain()
        .await
        .iter()
        .map(|m| m.properties.message_id().as_ref().unwrap().to_string())
        .collect();
    assert_eq!(published.len(), STORIES.len());

    // Two readers from the beginning, on their own: every message once, in
    // the stream's (publishing) order, the same for both.
    let first = read_stream(config, &history, "first", published.len()).await;
    let second = read_stream(config, &history, "first", published.len()).await;
    assert_eq!(first, second);
    assert_eq!(first.iter().cloned().collect::<HashSet<_>>(), published);
    assert_eq!(first.len(), published.len(), "each message once");

    // A reader from a time between two runs gets only what came after it.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let middle = chrono::Utc::now() + chrono::Duration::seconds(1);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    server.route(
        "/feeds/late.xml",
        Route::ok(
            RSS,
            format!(
                "<rss version=\"2.0\"><channel><title>t</title><item><title>Late news</title><link>{}</link><description>A late story.</description></item></channel></rss>",
                server.url("/news/late")
            ),
        ),
    );
    server.route("/news/late", Route::ok("text/html", "<html><body><article><p>A late story, long enough to be the text of its page.</p></article></body></html>"));
    let output = feedwire(&["run", "--once", "--config", config]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let late: Vec<String> = capture
        .drain()
        .await
        .iter()
        .map(|m| m.properties.message_id().as_ref().unwrap().to_string())
        .collect();
    assert_eq!(late.len(), 1, "one late story");
    let from_middle = read_stream(
        config,
        &history,
        &middle.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        1,
    )
    .await;
    assert_eq!(from_middle, late);
    // `tail --from first --limit N` prints the first N.
    assert_eq!(read_stream(config, &history, "first", 3).await, first[..3]);
    delete_queue(&history).await;
    capture.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queue_declared_with_other_arguments_is_a_named_error() {
    let capture = Capture::new("inequivalent").await;
    let name = format!("{}.history", capture.exchange);
    // Someone made it a quorum queue; the config says stream.
    let connection = Connection::connect(BROKER_URL, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    channel
        .queue_declare(
            name.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            arguments,
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &capture.exchange, &[], &stream_queue(&name));
    let output = feedwire(&["run", "--once", "--config", config.to_str().unwrap()]).await;
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("queue `{name}` exists with other arguments")),
        "{text}"
    );
    assert!(
        text.contains("x-queue-type=stream"),
        "what feedwire declares: {text}"
    );
    assert!(text.contains("quorum"), "what the broker has: {text}");
    let _ = connection.close(200, "done".into()).await;
    delete_queue(&name).await;
    capture.delete().await;
}
