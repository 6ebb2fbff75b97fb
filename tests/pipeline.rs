//! End-to-end runs of the real binary against an in-process HTTP server and
//! the real RabbitMQ on 127.0.0.1:5672.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use common::{
    Capture, RSS, Received, Route, STORIES, TestServer, farm, feeds, feedwire, stderr, write_config,
};
use feedwire::store::{SqliteStore, Store};
use lapin::types::ShortString;
use serde_json::Value;

fn by_url<'a>(messages: &'a [Received], server: &TestServer, path: &str) -> &'a Received {
    let url = server.url(path);
    messages
        .iter()
        .find(|m| m.body["url"] == url.as_str())
        .unwrap_or_else(|| panic!("no message for {url}"))
}

fn schema_validator() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/article.v1.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

async fn run_once(config: &Path) -> std::process::Output {
    feedwire(&["run", "--once", "--config", config.to_str().unwrap()]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_story_is_published_once_and_a_restart_publishes_nothing() {
    let server = farm().await;
    let capture = Capture::new("full").await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &capture.exchange, &feeds(&server), "");

    let output = run_once(&config).await;
    assert!(output.status.success(), "run failed: {}", stderr(&output));
    let messages = capture.drain().await;

    // One message per unique story, across feeds, guid variants and tracking links.
    let urls: HashSet<String> = messages
        .iter()
        .map(|m| m.body["url"].as_str().unwrap().to_string())
        .collect();
    let expected: HashSet<String> = STORIES.iter().map(|p| server.url(p)).collect();
    assert_eq!(urls, expected);
    assert_eq!(messages.len(), STORIES.len(), "duplicates were published");
    let ids: HashSet<&str> = messages
        .iter()
        .map(|m| m.body["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), STORIES.len());

    // Every message is a valid v1 message with the promised AMQP properties.
    let validator = schema_validator();
    for m in &messages {
        let errors: Vec<String> = validator
            .iter_errors(&m.body)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "schema errors {errors:?} in {}", m.body);
        let p = &m.properties;
        assert_eq!(p.delivery_mode(), &Some(2));
        assert_eq!(
            p.content_type(),
            &Some(ShortString::from("application/json"))
        );
        let expected_id = format!("{}-r1", m.body["id"].as_str().unwrap());
        assert_eq!(
            p.message_id(),
            &Some(ShortString::from(expected_id.as_str()))
        );
        assert_eq!(p.kind(), &Some(ShortString::from("article.created")));
        assert!(p.timestamp().is_some());
        assert_eq!(m.body["event"], "created");
        assert_eq!(m.body["revision"], 1);
        assert_eq!(
            m.routing_key,
            format!("article.{}", m.body["feed"]["id"].as_str().unwrap())
        );
    }

    // A BBC-style story: clean text, metadata from the page and the feed.
    let harbour = &by_url(&messages, &server, "/news/articles/c0harbour1").body;
    assert_eq!(
        harbour["title"],
        "Harbour town votes to rebuild its flooded sea wall"
    );
    // The story is in two feeds, polled concurrently: whichever recorded it
    // first owns the message, consistently.
    let (feed_title, feed_path, guid) = match harbour["feed"]["id"].as_str().unwrap() {
        "world" => (
            "Test News - World",
            "/feeds/world.xml",
            "/news/articles/c0harbour1#0",
        ),
        "uk" => (
            "Test News - UK",
            "/feeds/uk.xml",
            "/news/articles/c0harbour1#5",
        ),
        other => panic!("story attributed to feed {other}"),
    };
    assert_eq!(harbour["feed"]["title"], feed_title);
    assert_eq!(harbour["feed"]["url"], server.url(feed_path));
    assert_eq!(harbour["guid"], server.url(guid));
    assert_eq!(harbour["published_at"], "2026-04-14T08:01:10Z");
    assert_eq!(harbour["authors"], serde_json::json!(["Sam Reporter"]));
    assert_eq!(harbour["language"], "en-GB");
    assert_eq!(harbour["image"], server.url("/images/c0harbour1.jpg"));
    assert_eq!(harbour["extraction"]["status"], "ok");
    let text = harbour["text"].as_str().unwrap();
    let paragraphs: Vec<&str> = text.split("\n\n").collect();
    assert_eq!(
        paragraphs.len(),
        4,
        "four paragraphs, blank-line separated: {text:?}"
    );
    assert!(paragraphs[0].starts_with("Residents of a small harbour town"));
    for chrome in [
        "Dark Mode",
        "cookies",
        "Image caption",
        "Inline promo",
        "More on this story",
        "Related topics",
        "Share",
        "14 April 2026",
        "Harbour town votes", // the headline is `title`, not text
    ] {
        assert!(
            !text.contains(chrome),
            "chrome {chrome:?} in text: {text:?}"
        );
    }
    assert_eq!(harbour["word_count"], text.split_whitespace().count());

    // Atom and JSON Feed items; the Atom author and headings survive.
    let builds = &by_url(&messages, &server, "/blog/faster-builds").body;
    assert_eq!(builds["feed"]["id"], "tech");
    assert_eq!(builds["authors"], serde_json::json!(["Ada Example"]));
    assert!(
        builds["text"]
            .as_str()
            .unwrap()
            .contains("\n\nWhat we measured\n\n")
    );
    assert!(!builds["text"].as_str().unwrap().contains("Subscribe"));
    let seven = &by_url(&messages, &server, "/notes/seven").body;
    assert_eq!(seven["guid"], "note-7");
    assert_eq!(seven["published_at"], "2026-04-10T10:00:00Z");

    // A page that answers 500: published anyway, with the feed's summary.
    let eight = &by_url(&messages, &server, "/notes/eight").body;
    assert_eq!(eight["extraction"]["status"], "failed");
    assert_eq!(eight["extraction"]["method"], "feed_summary");
    assert_eq!(
        eight["text"],
        "This summary stands in when the page cannot be fetched."
    );
    assert!(server.hits("/notes/eight") >= 2, "the page was retried");

    // The broken feed was logged with its id and URL and stopped nothing.
    let log = stderr(&output);
    assert!(
        log.contains("broken") && log.contains("/feeds/broken.xml"),
        "{log}"
    );

    // A restart on the same store publishes nothing.
    let again = run_once(&config).await;
    assert!(
        again.status.success(),
        "second run failed: {}",
        stderr(&again)
    );
    let repeated = capture.drain().await;
    assert!(
        repeated.is_empty(),
        "restart re-published {} messages",
        repeated.len()
    );
    capture.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_story_is_published_once_as_updated() {
    let server = farm().await;
    let capture = Capture::new("update").await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &capture.exchange, &feeds(&server), "");
    assert!(run_once(&config).await.status.success());
    let first = capture.drain().await;
    let original = by_url(&first, &server, "/news/articles/c0harbour1")
        .body
        .clone();

    // Only the feed's description changes: the story is looked at again, but
    // title and text are the same, so nothing is published.
    let feed = std::fs::read_to_string(common::fixture_path("feeds/bbc-world.xml")).unwrap();
    let reworded = feed.replace(
        "after last winter's storms.]]>",
        "after the winter storms.]]>",
    );
    assert_ne!(feed, reworded);
    server.route(
        "/feeds/world.xml",
        Route::ok(RSS, reworded.replace("{BASE}", &server.base)),
    );
    let output = run_once(&config).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        capture.drain().await.is_empty(),
        "an unchanged story was re-published"
    );

    // Now the headline and the page text change: one `updated` message.
    let retitled = reworded.replace(
        "Harbour town votes to rebuild its flooded sea wall]]>",
        "Harbour town approves new sea wall]]>",
    );
    server.route(
        "/feeds/world.xml",
        Route::ok(RSS, retitled.replace("{BASE}", &server.base)),
    );
    let page = std::fs::read_to_string(common::fixture_path("pages/c0harbour1.html")).unwrap();
    server.route(
        "/news/articles/c0harbour1",
        Route::ok(
            "text/html",
            page.replace("about eighteen months", "about two years"),
        ),
    );
    let output = run_once(&config).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let updates = capture.drain().await;
    assert_eq!(
        updates.len(),
        1,
        "exactly one message for the changed story"
    );
    let update = &updates[0];
    assert_eq!(update.body["id"], original["id"]);
    assert_eq!(update.body["event"], "updated");
    assert_eq!(update.body["revision"], 2);
    assert_eq!(update.body["title"], "Harbour town approves new sea wall");
    assert!(
        update.body["text"]
            .as_str()
            .unwrap()
            .contains("about two years")
    );
    assert_ne!(update.body["content_hash"], original["content_hash"]);
    let expected_id = format!("{}-r2", original["id"].as_str().unwrap());
    assert_eq!(
        update.properties.message_id(),
        &Some(ShortString::from(expected_id.as_str()))
    );
    assert_eq!(
        update.properties.kind(),
        &Some(ShortString::from("article.updated"))
    );

    // And never again while nothing changes.
    assert!(run_once(&config).await.status.success());
    assert!(capture.drain().await.is_empty());
    capture.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unroutable_publish_leaves_the_story_not_done() {
    let server = farm().await;
    // The exchange exists, but no queue is bound to it yet.
    let capture = Capture::with_binding("unroutable", None).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &capture.exchange, &feeds(&server), "");

    let output = run_once(&config).await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    {
        let store = SqliteStore::open(&dir.path().join("state.db")).unwrap();
        let stats = store.stats().await.unwrap();
        assert_eq!(stats.published, 0, "a returned message was marked done");
        assert_eq!(stats.stories, STORIES.len() as u64);
    }

    // Once a queue is bound, the next run delivers every story.
    capture.bind("#").await;
    let output = run_once(&config).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let messages = capture.drain().await;
    let mut per_story: HashMap<String, usize> = HashMap::new();
    for m in &messages {
        *per_story
            .entry(m.body["id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(per_story.len(), STORIES.len());
    assert!(per_story.values().all(|&n| n == 1));
    let store = SqliteStore::open(&dir.path().join("state.db")).unwrap();
    assert_eq!(store.stats().await.unwrap().published, STORIES.len() as u64);
    capture.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stdout_sink_runs_without_a_broker() {
    let server = farm().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "unused", &feeds(&server), "");
    // Point the broker at a port where nothing listens: stdout must not care.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("127.0.0.1:5672", "127.0.0.1:9");
    std::fs::write(&config, text).unwrap();
    let output = feedwire(&[
        "run",
        "--once",
        "--sink",
        "stdout",
        "--config",
        config.to_str().unwrap(),
    ])
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each stdout line is one JSON message"))
        .collect();
    assert_eq!(lines.len(), STORIES.len());
    assert!(lines.iter().all(|m| m["schema"] == "feedwire.article.v1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_config_is_one_error_naming_the_key_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "x", &[], "per_host_concurency = 3");
    let output = feedwire(&["run", "--once", "--config", config.to_str().unwrap()]).await;
    assert_eq!(output.status.code(), Some(2));
    let log = stderr(&output);
    assert!(log.contains("fetch.per_host_concurency"), "{log}");
    assert_eq!(log.trim().lines().count(), 1, "one clear error: {log}");

    let missing = feedwire(&["run", "--config", "/nonexistent/feedwire.toml"]).await;
    assert_eq!(missing.status.code(), Some(2));
}
