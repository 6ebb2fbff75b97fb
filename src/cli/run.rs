//! `feedwire run`: the worker.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::ValueEnum;
use feedwire::app::{self, AppError, SinkKind, Worker};
use feedwire::config::Config;
use feedwire::ops::{Metrics, OpsServer};
use feedwire::shutdown::Shutdown;
use tracing::{error, info, warn};

use super::{ConfigArg, load_config, report, runtime};

#[derive(clap::Args)]
pub(super) struct RunArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Poll every feed once, finish every story, wait for confirms, exit.
    #[arg(long)]
    once: bool,
    /// Where messages go: the broker, or JSON lines on stdout.
    #[arg(long, value_enum, default_value = "amqp")]
    sink: Destination,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Destination {
    Amqp,
    Stdout,
}

pub(super) fn run(args: RunArgs) -> ExitCode {
    let config = match load_config(&args.config.config) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(e) => return report(Err(e)),
    };
    let sink = match args.sink {
        Destination::Amqp => SinkKind::Amqp,
        Destination::Stdout => SinkKind::Stdout,
    };
    let result = runtime.block_on(work(config, args.once, sink));
    // A parse still running on a blocking thread (its story was abandoned at
    // the end of the grace period) must not hold the exit: the runtime is
    // not waited for.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => {
            error!("{e:#}");
            eprintln!("feedwire: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn work(config: Config, once: bool, sink: SinkKind) -> Result<ExitCode> {
    let config = Arc::new(config);
    let signals = Shutdown::on_signals(config.pipeline.shutdown_grace);
    let metrics = Arc::new(Metrics::new(config.ops.per_feed_metrics));
    // Up first, so /healthz answers while the store opens and the broker is reached.
    let ops = match config.ops.listen {
        Some(listen) => Some(
            OpsServer::start(listen, Arc::clone(&metrics))
                .await
                .with_context(|| format!("cannot listen on ops.listen {listen}"))?,
        ),
        None => None,
    };
    let store = app::open_store(&config.store)
        .await
        .context("cannot open the store")?;
    let sink = match app::connect_sink(&config, sink, &signals.shutdown).await {
        Ok(sink) => Arc::new(sink),
        Err(AppError::Stopped) => {
            info!("stopped before the broker was reachable");
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(e.into()),
    };
    let config_feeds = config.feeds.len();
    let worker = Worker::assemble(config, store, sink, metrics, &signals).await?;
    info!(config_feeds, once, "feedwire started");
    if let Some(ops) = &ops {
        worker.serve_ops(ops, &signals.shutdown);
    }
    let unfinished = if once {
        worker.pipeline.run_once().await
    } else {
        worker.pipeline.run_forever().await;
        0
    };
    worker.close().await.context("cannot flush the store")?;
    let summary = worker.metrics.summary();
    info!(%summary, "feedwire stopped");
    if once {
        eprintln!("feedwire: {summary}; unfinished {unfinished}");
    }
    if unfinished > 0 {
        warn!(
            unfinished,
            "some stories were not delivered; the next run retries them"
        );
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}
