//! Two workers — two pipelines, each with its own PostgreSQL connection
//! pool — on one database and the fixture farm, both polling at once: every
//! story reaches the exchange exactly once. Needs RabbitMQ on
//! 127.0.0.1:5672 and PostgreSQL on 127.0.0.1:5432 (`.ci/run` starts both).

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::{Capture, STORIES, farm, feeds, write_config};
use feedwire::config::Config;
use feedwire::fetch::Fetcher;
use feedwire::ops::Metrics;
use feedwire::pipeline::Pipeline;
use feedwire::publish::{AmqpSink, Sink};
use feedwire::shutdown::Shutdown;
use feedwire::store::{Claimant, PostgresStore, SharedStore};

fn server_url() -> String {
    std::env::var("FEEDWIRE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

async fn admin() -> tokio_postgres::Client {
    let url = server_url();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL at {url} does not answer ({e}); `.ci/run` starts it")
        });
    tokio::spawn(connection);
    client
}

/// A schema of its own, dropped with everything in it at the end.
struct Schema(String);

impl Schema {
    async fn new() -> Schema {
        let name = format!("fw_workers_{}_{}", std::process::id(), fastrand::u32(..));
        admin()
            .await
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .unwrap();
        Schema(name)
    }

    fn url(&self) -> String {
        let base = server_url();
        let join = if base.contains('?') { '&' } else { '?' };
        format!(
            "{base}{join}options=-c%20search_path%3D{0}&application_name={0}",
            self.0
        )
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let name = self.0.clone();
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let admin = admin().await;
                    let _ = admin
                        .execute(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                             WHERE application_name = $1 AND pid <> pg_backend_pid()",
                            &[&name],
                        )
                        .await;
                    let _ = admin
                        .batch_execute(&format!("DROP SCHEMA {name} CASCADE"))
                        .await;
                })
        })
        .join();
    }
}

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
