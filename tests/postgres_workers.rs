//! Two workers — two pipelines, each with its own PostgreSQL connection
//! pool — on one database and the fixture farm, both polling at once: every
//! story reaches the exchange exactly once. Needs RabbitMQ on
//! 127.0.0.1:5672 and PostgreSQL on 127.0.0.1:5432 (`.ci/run` starts both).

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::pg::Schema;
use common::{Capture, STORIES, farm, feeds, feedwire, stderr, write_config};
use feedwire::config::Config;
use feedwire::fetch::Fetcher;
use feedwire::ops::Metrics;
use feedwire::pipeline::Pipeline;
use feedwire::publish::{AmqpSink, Sink};
use feedwire::shutdown::Shutdown;
use feedwire::store::{Claimant, PostgresStore, SharedStore};

#[tokio::test(flavor = "multi_thread")]
async fn two_workers_on_one_database_publish_every_story_once() {
    let server = farm().await;
    let capture = Capture::new("pg-workers").await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &capture.exchange, &feeds(&server), "");
    let config = Arc::new(Config::load(&path).unwrap());
    let schema = Schema::new().await;
    let signals = Shutdown::default();
    let mut workers = Vec::new();
    for n in 1..=2 {
        let store: SharedStore = Arc::new(PostgresStore::connect(&schema.url(), 4).await.unwrap());
        store.sync_feeds(&config.feeds).await.unwrap();
        let sink = AmqpSink::connect(config.broker.clone(), &signals.shutdown)
            .await
            .expect("RabbitMQ answers on 127.0.0.1:5672");
        let pipeline = Pipeline::new(
            Arc::clone(&config),
            Arc::clone(&store),
            Claimant::new(&format!("pg-worker-{n}"), n, Duration::from_secs(60)),
            Fetcher::new(&config.fetch).unwrap(),
            Arc::new(Sink::Amqp(sink)),
            Arc::new(Metrics::new(false)),
            signals.shutdown.clone(),
            signals.abort.clone(),
        );
        workers.push((store, pipeline));
    }
    let runs = workers.iter().map(|(_, pipeline)| {
        let pipeline = Arc::clone(pipeline);
        tokio::spawn(async move { pipeline.run_once().await })
    });
    for run in futures_util::future::join_all(runs).await {
        run.unwrap();
    }
    let messages = capture.drain().await;
    let mut per_url: HashMap<String, usize> = HashMap::new();
    for m in &messages {
        *per_url
            .entry(m.body["url"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let expected: HashMap<String, usize> = STORIES.iter().map(|p| (server.url(p), 1)).collect();
    assert_eq!(
        per_url, expected,
        "every story once, whichever worker found it"
    );
    let stats = workers[0].0.stats().await.unwrap();
    assert_eq!(
        (stats.stories, stats.published, stats.archived_messages),
        (
            STORIES.len() as u64,
            STORIES.len() as u64,
            STORIES.len() as u64
        )
    );
    assert!(
        workers[1].0.workers().await.unwrap().is_empty(),
        "both signed off"
    );
    capture.delete().await;
}

/// `feedwire store migrate --from sqlite --to url`.
async fn migrate(sqlite: &std::path::Path, url: &str) -> std::process::Output {
    feedwire(&[
        "store",
        "migrate",
        "--from",
        sqlite.to_str().unwrap(),
        "--to",
        url,
    ])
    .await
}

/// `feedwire run --once` with the store at `url` (FEEDWIRE_STORE_URL).
async fn run_once_on(config: &std::path::Path, url: &str) -> std::process::Output {
    tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_feedwire"))
            .args(["run", "--once", "--config", config.to_str().unwrap()])
            .env("FEEDWIRE_STORE_URL", url)
            .env_remove("FEEDWIRE_BROKER_URL")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("feedwire finished within two minutes")
    .unwrap()
}

/// Two worker processes at once on one database, through the command line
/// and FEEDWIRE_STORE_URL: every story once.
#[tokio::test(flavor = "multi_thread")]
async fn two_processes_on_one_database_publish_every_story_once() {
    let server = farm().await;
    let capture = Capture::new("pg-processes").await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &capture.exchange, &feeds(&server), "");
    let schema = Schema::new().await;
    let url = schema.url();
    let (a, b) = tokio::join!(run_once_on(&config, &url), run_once_on(&config, &url));
    assert!(a.status.success(), "{}", stderr(&a));
    assert!(b.status.success(), "{}", stderr(&b));
    let messages = capture.drain().await;
    let mut per_url: HashMap<String, usize> = HashMap::new();
    for m in &messages {
        *per_url
            .entry(m.body["url"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let expected: HashMap<String, usize> = STORIES.iter().map(|p| (server.url(p), 1)).collect();
    assert_eq!(per_url, expected);
    capture.delete().await;
}

/// A SQLite deployment moves to PostgreSQL: the stories it published are
/// known there, so the first run on PostgreSQL publishes nothing again.
#[tokio::test(flavor = "multi_thread")]
async fn a_sqlite_store_moves_to_postgres() {
    let server = farm().await;
    let capture = Capture::new("pg-migrate").await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &capture.exchange, &feeds(&server), "");
    let output = feedwire(&["run", "--once", "--config", config.to_str().unwrap()]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(capture.drain().await.len(), STORIES.len());

    let schema = Schema::new().await;
    let sqlite = dir.path().join("state.db");
    let output = migrate(&sqlite, &schema.url()).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(report.contains("archive"), "says what it moved: {report}");

    let output = run_once_on(&config, &schema.url()).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        capture.drain().await.is_empty(),
        "every story was known in the moved store"
    );
    // Moving into a store that has data is refused unless asked for.
    let output = migrate(&sqlite, &schema.url()).await;
    assert!(!output.status.success(), "a non-empty target is refused");
    capture.delete().await;
}
