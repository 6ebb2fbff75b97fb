//! `feedwire replay`: re-publishing the archive to a chosen key or exchange.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use feedwire::app;
use feedwire::config::Config;
use feedwire::publish::{AmqpSink, PublishError};
use feedwire::replay::{ReplayOptions, ReplayTarget, parse_time, replay as run_replay};
use feedwire::shutdown::Shutdown;

use super::ConfigArg;

#[derive(clap::Args)]
pub(super) struct ReplayArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Only this feed (repeatable).
    #[arg(long = "feed")]
    feeds: Vec<String>,
    /// Published at or after: RFC 3339, a date, or a duration ago (36h).
    #[arg(long)]
    since: Option<String>,
    /// Published at or before.
    #[arg(long)]
    until: Option<String>,
    /// Only the story ids listed in this file, one a line.
    #[arg(long)]
    ids: Option<PathBuf>,
    /// Publish to the configured exchange under this routing key.
    #[arg(long, conflicts_with = "exchange", required_unless_present_any = ["exchange", "dry_run"])]
    routing_key: Option<String>,
    /// Publish to this exchange under the original routing keys.
    #[arg(long)]
    exchange: Option<String>,
    /// Messages per second at most.
    #[arg(long)]
    rate: Option<f64>,
    /// Count what would be sent; publish nothing.
    #[arg(long)]
    dry_run: bool,
}

impl ReplayArgs {
    fn options(&self) -> Result<ReplayOptions> {
        let time = |t: &Option<String>| {
            t.as_deref()
                .map(parse_time)
                .transpose()
                .map_err(anyhow::Error::msg)
        };
        let ids: Option<HashSet<String>> = match &self.ids {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect(),
            ),
            None => None,
        };
        let target = match (&self.routing_key, &self.exchange) {
            (_, Some(exchange)) => ReplayTarget::Exchange(exchange.clone()),
            (Some(key), None) => ReplayTarget::RoutingKey(key.clone()),
            (None, None) => ReplayTarget::RoutingKey(String::new()),
        };
        Ok(ReplayOptions {
            feeds: self.feeds.clone(),
            since: time(&self.since)?,
            until: time(&self.until)?,
            ids,
            target,
            rate: self.rate,
        })
    }
}

pub(super) async fn replay(config: Config, args: ReplayArgs) -> Result<()> {
    let options = args.options()?;
    let store = app::open_store(&config.store)
        .await
        .context("cannot open the store")?;
    let stop = Shutdown::on_signals(std::time::Duration::ZERO).shutdown;
    let sink = if args.dry_run {
        None
    } else {
        match AmqpSink::connect(config.broker.clone(), &stop).await {
            Ok(sink) => Some(sink),
            Err(PublishError::ShuttingDown) => return Ok(()),
            Err(e) => return Err(e).context("cannot connect to the broker"),
        }
    };
    let total = store.stats().await?.archived_messages;
    let bar = std::io::stderr()
        .is_terminal()
        .then(|| indicatif::ProgressBar::new(total));
    let run = run_replay(store.as_ref(), sink.as_ref(), &options, |scanned, _| {
        if let Some(bar) = &bar {
            bar.set_position(scanned);
        }
    });
    let summary = tokio::select! {
        summary = run => summary?,
        _ = stop.cancelled() => {
            eprintln!("feedwire replay: interrupted; run the same command again to resume");
            return Ok(());
        }
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(sink) = &sink {
        sink.close().await;
    }
    let verb = if args.dry_run {
        "would publish"
    } else {
        "published"
    };
    let resumed = summary.resumed_after.map_or(String::new(), |seq| {
        format!(" (resumed after archive position {seq})")
    });
    println!(
        "feedwire replay: {verb} {} of {} archived messages{resumed}",
        summary.matched, summary.scanned
    );
    Ok(())
}
