//! Assembly of a worker from its config: the one place that opens the
//! store, builds the HTTP client and the sink, brings the config's feeds
//! into the store and wires the pipeline and the ops endpoint — for `run`,
//! `backfill` and the benchmarks alike.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::{Config, StoreConfig};
use crate::fetch::{FetchError, Fetcher};
use crate::ops::{Metrics, OpsServer};
use crate::pipeline::Pipeline;
use crate::publish::{AmqpSink, PublishError, Sink, StdoutSink};
use crate::shutdown::Shutdown;
use crate::store::{Claimant, PostgresStore, SharedStore, SqliteStore, StoreError};

/// Where messages go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkKind {
    /// The broker, with publisher confirms.
    Amqp,
    /// JSON lines on standard output.
    Stdout,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot build the HTTP client: {0}")]
    Fetch(#[from] FetchError),
    #[error("cannot connect to the broker: {0}")]
    Broker(PublishError),
    /// A signal came before the broker answered.
    #[error("stopped before the broker was reachable")]
    Stopped,
}

/// Opens the store the config names: PostgreSQL when `store.url` is set
/// (several workers share it), else the SQLite file at `store.path`.
pub async fn open_store(config: &StoreConfig) -> Result<SharedStore, StoreError> {
    Ok(match &config.url {
        Some(url) => Arc::new(PostgresStore::connect(url, config.pool_size).await?),
        None => Arc::new(SqliteStore::open(&config.path)?),
    })
}

/// Connects the sink: for the broker, retrying until it answers or
/// `shutdown` fires.
pub async fn connect_sink(
    config: &Config,
    kind: SinkKind,
    shutdown: &CancellationToken,
) -> Result<Sink, AppError> {
    match kind {
        SinkKind::Stdout => Ok(Sink::Stdout(StdoutSink::default())),
        SinkKind::Amqp => match AmqpSink::connect(config.broker.clone(), shutdown).await {
            Ok(sink) => Ok(Sink::Amqp(sink)),
            Err(PublishError::ShuttingDown) => Err(AppError::Stopped),
            Err(error) => Err(AppError::Broker(error)),
        },
    }
}

/// A worker, assembled.
pub struct Worker {
    pub config: Arc<Config>,
    pub store: SharedStore,
    pub sink: Arc<Sink>,
    pub metrics: Arc<Metrics>,
    pub pipeline: Arc<Pipeline>,
}

impl Worker {
    /// Brings the config's feeds into `store` (the config wins for the
    /// feeds it names) and builds the pipeline around `sink`.
    pub async fn assemble(
        config: Arc<Config>,
        store: SharedStore,
        sink: Arc<Sink>,
        metrics: Arc<Metrics>,
        signals: &Shutdown,
    ) -> Result<Worker, AppError> {
        let claimant = Claimant::this_process(config.store.lease);
        Worker::assemble_as(claimant, config, store, sink, metrics, signals).await
    }

    /// [`Worker::assemble`] under a given name: several workers in one
    /// process (benchmarks, tests) must not share their claims.
    pub async fn assemble_as(
        claimant: Claimant,
        config: Arc<Config>,
        store: SharedStore,
        sink: Arc<Sink>,
        metrics: Arc<Metrics>,
        signals: &Shutdown,
    ) -> Result<Worker, AppError> {
        let synced = store.sync_feeds(&config.feeds).await?;
        info!(
            added = synced.added,
            updated = synced.updated,
            removed = synced.removed,
            "feed list synchronised with the config"
        );
        // From here on the feed list is the store's: the config's copy of it
        // (100,000 feeds are tens of MB) is not kept.
        let config = if config.feeds.is_empty() {
            config
        } else {
            Arc::new(Config {
                feeds: Vec::new(),
                ..Config::clone(&config)
            })
        };
        let feeds = store.feeds().await?.len();
        if !metrics.limit_per_feed_labels(feeds) && config.ops.per_feed_metrics {
            info!(
                feeds,
                "too many feeds for per-feed metric labels: they are off"
            );
        }
        let pipeline = Pipeline::new(
            Arc::clone(&config),
            Arc::clone(&store),
            claimant,
            Fetcher::new(&config.fetch)?,
            Arc::clone(&sink),
            Arc::clone(&metrics),
            signals.shutdown.clone(),
            signals.abort.clone(),
        );
        Ok(Worker {
            config,
            store,
            sink,
            metrics,
            pipeline,
        })
    }

    /// Readiness (broker connected, queue not full, not shutting down),
    /// the gauges read at scrape time, and the WebSub callbacks.
    pub fn serve_ops(&self, ops: &OpsServer, shutdown: &CancellationToken) {
        if let Some((path, max_body, handler)) = self.pipeline.callbacks() {
            ops.set_callbacks(&path, max_body, handler);
        }
        let (sink, pipeline) = (Arc::clone(&self.sink), Arc::clone(&self.pipeline));
        let shutdown = shutdown.clone();
        ops.set_readiness(Box::new(move || {
            if shutdown.is_cancelled() {
                Err("shutting down".into())
            } else if !sink.is_connected() {
                Err("broker disconnected".into())
            } else if pipeline.backpressured() {
                Err("backpressured: the story queue is full".into())
            } else {
                Ok(())
            }
        }));
        let (sink, pipeline, store) = (
            Arc::clone(&self.sink),
            Arc::clone(&self.pipeline),
            Arc::clone(&self.store),
        );
        ops.set_refresh(Box::new(move || {
            let metrics = pipeline.metrics();
            metrics.broker_connected.set(i64::from(sink.is_connected()));
            pipeline.refresh_feed_states();
            if let Some(bytes) = store.size_bytes() {
                metrics.store_size_bytes.set(bytes as i64);
            }
        }));
    }

    /// Closes the sink and flushes the store.
    pub async fn close(&self) -> Result<(), StoreError> {
        self.sink.close().await;
        self.store.checkpoint().await
    }
}
