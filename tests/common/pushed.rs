//! A worker under WebSub, for tests and the push benchmark: a feed server
//! whose feed names the test hub, the hub, a capture exchange, and the real
//! binary started on a config with `[push]` on.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use super::hub::TestHub;
use super::{Capture, RSS, Received, Route, TestServer, free_port, http_get, metric};

/// An RSS feed naming `hub` and itself, with one item per slug.
pub fn feed(server: &TestServer, hub: &str, slugs: &[&str]) -> String {
    let items: String = slugs
        .iter()
        .map(|slug| {
            let link = server.url(&format!("/story/{slug}"));
            format!(
                "<item><title>Story {slug}</title><link>{link}</link><guid>{link}</guid>\
                 <description>Short {slug}.</description></item>"
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>
<title>Pushed news</title><link>{site}</link>
<atom:link rel="hub" href="{hub}"/><atom:link rel="self" href="{topic}"/>
{items}</channel></rss>"#,
        site = server.url("/"),
        topic = server.url("/feed.xml"),
    )
}

/// Serves the page of story `slug`.
pub fn add_story(server: &TestServer, slug: &str) {
    server.route(
        &format!("/story/{slug}"),
        Route::ok("text/html; charset=utf-8", page(slug)),
    );
}

fn page(slug: &str) -> String {
    format!(
        "<html><head><title>Story {slug}</title></head><body><nav>Home News Sport</nav>\
         <article><h1>Story {slug}</h1><p>The council said on Monday that story {slug} \
         would be told in full, with every paragraph that a reader expects to find.</p>\
         <p>A second paragraph of story {slug} gives the details, the names and the places \
         that make it a story of its own.</p></article></body></html>"
    )
}

pub struct World {
    pub server: TestServer,
    pub hub: TestHub,
    pub capture: Capture,
    pub dir: tempfile::TempDir,
    pub ops: String,
}

impl World {
    pub async fn new(name: &str, lease_seconds: u64) -> World {
        let server = TestServer::start().await;
        let hub = TestHub::start(lease_seconds).await;
        for slug in ["one", "two", "three", "four", "five"] {
            add_story(&server, slug);
        }
        server.route(
            "/feed.xml",
            Route::ok(RSS, feed(&server, &hub.url, &["one"])),
        );
        World {
            server,
            hub,
            capture: Capture::new(name).await,
            dir: tempfile::tempdir().unwrap(),
            ops: format!("127.0.0.1:{}", free_port()),
        }
    }

    pub fn topic(&self) -> String {
        self.server.url("/feed.xml")
    }

    pub fn set_feed(&self, slugs: &[&str]) {
        self.server.route(
            "/feed.xml",
            Route::ok(RSS, feed(&self.server, &self.hub.url, slugs)),
        );
    }

    /// Writes the config (with the feed, or without it) and starts a worker.
    pub fn start(&self, with_feed: bool, interval: &str) -> Child {
        let feeds = if with_feed {
            format!(
                "[[feeds]]\nid = \"pushed\"\nurl = \"{}\"\ninterval = \"{interval}\"\n",
                self.topic()
            )
        } else {
            String::new()
        };
        let text = format!(
            r#"
[broker]
url = "{broker}"
exchange = "{exchange}"

[store]
path = "{store}"

[fetch]
allow_private_networks = true
per_host_interval = "0ms"
respect_robots_txt = false

[poll]
min_interval = "1s"

[ops]
listen = "{ops}"

[push]
enabled = true
callback_base = "http://{ops}/websub"
safety_poll_interval = "1h"
retry_interval = "1h"

{feeds}"#,
            broker = super::BROKER_URL,
            exchange = self.capture.exchange,
            store = self.dir.path().join("state.db").display(),
            ops = self.ops,
        );
        let path = self.dir.path().join("feedwire.toml");
        std::fs::write(&path, text).unwrap();
        Command::new(env!("CARGO_BIN_EXE_feedwire"))
            .args(["run", "--config", path.to_str().unwrap()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("feedwire starts")
    }

    /// Waits (up to a minute) for messages until `title` is among them.
    pub async fn wait_for_story(&self, title: &str, seen: &mut Vec<Received>) {
        for _ in 0..600 {
            if seen.iter().any(|m| m.body["title"] == title) {
                return;
            }
            seen.extend(self.capture.drain().await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{title} was not published within a minute");
    }

    pub async fn metric(&self, series: &str) -> f64 {
        let (_, text) = http_get(&self.ops, "/metrics").await.unwrap();
        metric(&text, series)
    }

    /// Starts a worker with the feed and waits until its first story is
    /// out and the hub has verified its subscription; the messages so far.
    pub async fn start_subscribed(&self, interval: &str) -> (Child, Vec<Received>) {
        let worker = self.start(true, interval);
        let mut seen = Vec::new();
        self.wait_for_story("Story one", &mut seen).await;
        let topic = self.topic();
        self.hub
            .wait_for("the subscription verified", |hub| {
                hub.subscriber(&topic).is_some_and(|s| s.verified)
            })
            .await;
        (worker, seen)
    }
}
