//! Shared test harness: an in-process HTTP server on loopback (`http.rs`), a
//! RabbitMQ test exchange with a capture queue, and helpers to run the real
//! binary.

#![allow(dead_code)] // each test binary uses a different part of the harness

mod http;
pub mod hub;
pub mod pg;
pub mod pushed;

#[allow(unused_imports)] // as above
pub use http::{Route, TestServer, free_port, http_get, http_request};

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use lapin::options::{
    BasicGetOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};

pub const BROKER_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

pub const RSS: &str = "application/rss+xml; charset=utf-8";

/// The unique stories of the fixture farm (`farm()`), by URL path.
pub const STORIES: &[&str] = &[
    "/news/articles/c0harbour1",
    "/news/articles/c0orchid22",
    "/news/articles/c0trains33",
    "/news/articles/c0museum44",
    "/news/articles/c0council5",
    "/blog/faster-builds",
    "/blog/flaky-tests",
    "/notes/seven",
    "/notes/eight",
];

pub async fn farm() -> TestServer {
    let server = TestServer::start().await;
    server.fixture("/feeds/world.xml", RSS, "feeds/bbc-world.xml");
    server.fixture("/feeds/uk.xml", RSS, "feeds/bbc-uk.xml");
    server.fixture(
        "/feeds/tech.atom",
        "application/atom+xml",
        "feeds/tech.atom",
    );
    server.fixture(
        "/feeds/notes.json",
        "application/feed+json",
        "feeds/notes.json",
    );
    // An HTML error page served where a feed should be.
    server.fixture("/feeds/broken.xml", RSS, "feeds/broken.html");
    for slug in [
        "c0harbour1",
        "c0orchid22",
        "c0trains33",
        "c0museum44",
        "c0council5",
    ] {
        server.fixture(
            &format!("/news/articles/{slug}"),
            "text/html; charset=utf-8",
            &format!("pages/{slug}.html"),
        );
    }
    server.fixture(
        "/blog/faster-builds",
        "text/html",
        "pages/faster-builds.html",
    );
    server.fixture("/blog/flaky-tests", "text/html", "pages/flaky-tests.html");
    server.fixture(
        "/notes/seven",
        "text/html; charset=utf-8",
        "pages/seven.html",
    );
    server.route("/notes/eight", Route::status(500));
    server
}

pub fn feeds(server: &TestServer) -> Vec<(&'static str, String)> {
    vec![
        ("world", server.url("/feeds/world.xml")),
        ("uk", server.url("/feeds/uk.xml")),
        ("tech", server.url("/feeds/tech.atom")),
        ("notes", server.url("/feeds/notes.json")),
        ("broken", server.url("/feeds/broken.xml")),
    ]
}

pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A uniquely named exchange with an exclusive queue bound to all of it.
pub struct Capture {
    pub exchange: String,
    pub queue: String,
    connection: Connection,
    channel: lapin::Channel,
}

/// One message as a consumer sees it.
#[derive(Debug, Clone)]
pub struct Received {
    pub routing_key: String,
    pub properties: BasicProperties,
    pub body: serde_json::Value,
}

impl Capture {
    pub async fn new(name: &str) -> Capture {
        Self::with_binding(name, Some("#")).await
    }

    /// `binding: None` declares the exchange with no queue bound to it.
    pub async fn with_binding(name: &str, binding: Option<&str>) -> Capture {
        Self::declare(name, binding, false).await
    }

    /// A durable queue that outlives this connection: for tests that close
    /// every broker connection on purpose. Drain it with [`drain_queue`].
    pub async fn durable(name: &str) -> Capture {
        Self::declare(name, Some("#"), true).await
    }

    async fn declare(name: &str, binding: Option<&str>, durable: bool) -> Capture {
        let unique = format!(
            "feedwire.test.{name}.{}.{}",
            std::process::id(),
            fastrand::u32(..)
        );
        let connection = Connection::connect(BROKER_URL, ConnectionProperties::default())
            .await
            .expect("RabbitMQ must answer on 127.0.0.1:5672 (see .ci/run)");
        let channel = connection.create_channel().await.unwrap();
        channel
            .exchange_declare(
                unique.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        let queue = format!("{unique}.capture");
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    exclusive: !durable,
                    auto_delete: !durable,
                    durable,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        let capture = Capture {
            exchange: unique,
            queue,
            connection,
            channel,
        };
        if let Some(binding) = binding {
            capture.bind(binding).await;
        }
        capture
    }

    /// Another exclusive queue on this capture's exchange, bound to
    /// `binding`; drain it with [`Capture::drain_named`].
    pub async fn add_queue(&self, suffix: &str, binding: &str) -> String {
        let queue = format!("{}.{suffix}", self.exchange);
        self.channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        self.channel
            .queue_bind(
                queue.as_str().into(),
                self.exchange.as_str().into(),
                binding.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        queue
    }

    pub async fn drain_named(&self, queue: &str) -> Vec<Received> {
        take_all(&self.channel, queue).await
    }

    pub async fn bind(&self, binding: &str) {
        self.channel
            .queue_bind(
                self.queue.as_str().into(),
                self.exchange.as_str().into(),
                binding.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
    }

    /// Takes every message now in the capture queue.
    pub async fn drain(&self) -> Vec<Received> {
        take_all(&self.channel, &self.queue).await
    }

    /// Deletes the exchange and (for a durable capture) the queue, on a
    /// fresh connection.
    pub async fn delete(self) {
        if let Ok(connection) =
            Connection::connect(BROKER_URL, ConnectionProperties::default()).await
            && let Ok(channel) = connection.create_channel().await
        {
            let _ = channel
                .queue_delete(self.queue.as_str().into(), Default::default())
                .await;
            let _ = channel
                .exchange_delete(
                    self.exchange.as_str().into(),
                    ExchangeDeleteOptions::default(),
                )
                .await;
            let _ = connection.close(200, "done".into()).await;
        }
        let _ = self
            .channel
            .exchange_delete(
                self.exchange.as_str().into(),
                ExchangeDeleteOptions::default(),
            )
            .await;
        let _ = self.connection.close(200, "done".into()).await;
    }
}

/// Takes every message now in `queue`, on a fresh connection.
pub async fn drain_queue(queue: &str) -> Vec<Received> {
    let connection = Connection::connect(BROKER_URL, ConnectionProperties::default())
        .await
        .expect("RabbitMQ answers");
    let channel = connection.create_channel().await.unwrap();
    let out = take_all(&channel, queue).await;
    let _ = connection.close(200, "drained".into()).await;
    out
}

async fn take_all(channel: &lapin::Channel, queue: &str) -> Vec<Received> {
    let mut out = Vec::new();
    while let Some(message) = channel
        .basic_get(queue.into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
    {
        let delivery = message.delivery;
        out.push(Received {
            routing_key: delivery.routing_key.to_string(),
            properties: delivery.properties.clone(),
            body: serde_json::from_slice(&delivery.data).expect("message body is JSON"),
        });
    }
    out
}

/// What most end-to-end tests start from: a capture exchange, and a config
/// for it in a temporary directory that also holds the store.
pub struct Setup {
    pub capture: Capture,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Setup {
    pub async fn new(name: &str, feeds: &[(&str, String)], extra: &str) -> Setup {
        Setup::with_feeds_toml(name, &feeds_toml(feeds), extra).await
    }

    /// A setup whose `[[feeds]]` tables are written out by the test.
    pub async fn with_feeds_toml(name: &str, feeds: &str, extra: &str) -> Setup {
        let capture = Capture::new(name).await;
        let dir = tempfile::tempdir().unwrap();
        let config = write_config_toml(dir.path(), &capture.exchange, feeds, extra);
        Setup {
            capture,
            dir,
            config,
        }
    }

    /// What the store remembers of one feed (the worker must have exited).
    pub async fn feed_state(&self, feed_id: &str) -> feedwire::store::FeedState {
        use feedwire::store::Store;
        feedwire::store::SqliteStore::open(&self.dir.path().join("state.db"))
            .unwrap()
            .feed_state(feed_id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no state for feed {feed_id}"))
    }

    /// `feedwire run --once` on this config; it must succeed.
    pub async fn run_once(&self) -> Output {
        let output = feedwire(&["run", "--once", "--config", self.config.to_str().unwrap()]).await;
        assert!(output.status.success(), "{}", stderr(&output));
        output
    }
}

/// `[[feeds]]` tables polled every minute.
fn feeds_toml(feeds: &[(&str, String)]) -> String {
    feeds
        .iter()
        .map(|(id, url)| {
            format!("\n[[feeds]]\nid = \"{id}\"\nurl = \"{url}\"\ninterval = \"1m\"\n")
        })
        .collect()
}

/// Writes a config for the test farm into `dir` and returns its path.
pub fn write_config(dir: &Path, exchange: &str, feeds: &[(&str, String)], extra: &str) -> PathBuf {
    write_config_toml(dir, exchange, &feeds_toml(feeds), extra)
}

fn write_config_toml(dir: &Path, exchange: &str, feeds: &str, extra: &str) -> PathBuf {
    let mut text = format!(
        r#"
[broker]
url = "{BROKER_URL}"
exchange = "{exchange}"
confirm_timeout = "10s"

[store]
path = "{store}"

[fetch]
allow_private_networks = true
per_host_concurrency = 8
per_host_interval = "0ms"
page_attempts = 2
timeout = "10s"
{extra}
"#,
        store = dir.join("state.db").display()
    );
    text.push_str(feeds);
    let path = dir.join("feedwire.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs the real binary to completion (async, so the in-process server keeps serving).
pub async fn feedwire(args: &[&str]) -> Output {
    tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_feedwire"))
            .args(args)
            .env("RUST_LOG", "info")
            .env_remove("FEEDWIRE_BROKER_URL")
            .env_remove("FEEDWIRE_CONFIG")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("feedwire finished within two minutes")
    .expect("feedwire binary runs")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The value of one series in a `/metrics` text (0 when absent).
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// SIGTERM to a running worker; it must exit 0 within 30 s.
pub async fn stop(mut worker: tokio::process::Child) {
    let pid = worker.id().unwrap().to_string();
    tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), worker.wait())
        .await
        .expect("the worker stops on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
}
