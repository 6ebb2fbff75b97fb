//! `feedwire backfill`: history from before the worker ran, through the
//! normal pipeline.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use feedwire::app::{self, AppError, SinkKind, Worker};
use feedwire::backfill::{BackfillSource, collect};
use feedwire::config::Config;
use feedwire::fetch::Fetcher;
use feedwire::ops::Metrics;
use feedwire::shutdown::Shutdown;
use tracing::info;

use super::ConfigArg;

#[derive(clap::Args)]
pub(super) struct BackfillArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The feed the stories belong to (its URL is followed unless
    /// --sitemap or --file is given).
    #[arg(long)]
    feed: Option<String>,
    /// Only stories published at or after this time.
    #[arg(long)]
    since: Option<String>,
    #[arg(long, conflicts_with = "file")]
    sitemap: Option<String>,
    #[arg(long)]
    file: Option<PathBuf>,
}

pub(super) async fn backfill(config: Config, args: BackfillArgs) -> Result<ExitCode> {
    let since = args
        .since
        .as_deref()
        .map(feedwire::replay::parse_time)
        .transpose()
        .map_err(anyhow::Error::msg)?
        .map(|bound| bound.resolve(chrono::Utc::now().timestamp_millis()))
        .and_then(chrono::DateTime::from_timestamp_millis);
    let config = Arc::new(config);
    let signals = Shutdown::on_signals(config.pipeline.shutdown_grace);
    let store = app::open_store(&config.store)
        .await
        .context("cannot open the store")?;
    let source = match (&args.sitemap, &args.file, &args.feed) {
        (Some(url), _, _) => {
            BackfillSource::Sitemap(url::Url::parse(url).context("--sitemap is not a URL")?)
        }
        (None, Some(path), _) => BackfillSource::File(path.clone()),
        (None, None, Some(id)) => {
            let named = config.feeds.iter().find(|f| &f.id == id).cloned();
            let feed = match named {
                Some(feed) => feed,
                None => store
                    .feeds()
                    .await?
                    .into_iter()
                    .find(|f| &f.id == id)
                    .with_context(|| format!("no feed `{id}` in the config or the store"))?,
            };
            BackfillSource::Feed(url::Url::parse(&feed.url)?)
        }
        (None, None, None) => anyhow::bail!("give --feed ID, --sitemap URL or --file FEED.xml"),
    };
    let feed_id = args.feed.unwrap_or_else(|| "backfill".into());
    let fetcher = Fetcher::new(&config.fetch).context("cannot build the HTTP client")?;
    let items = collect(&fetcher, &source, since).await?;
    info!(items = items.len(), feed_id = %feed_id, "backfill: items collected");
    let sink = match app::connect_sink(&config, SinkKind::Amqp, &signals.shutdown).await {
        Ok(sink) => Arc::new(sink),
        Err(AppError::Stopped) => return Ok(ExitCode::SUCCESS),
        Err(e) => return Err(e.into()),
    };
    let metrics = Arc::new(Metrics::new(false));
    let worker = Worker::assemble(Arc::clone(&config), store, sink, metrics, &signals).await?;
    let (new, undelivered) = worker.pipeline.ingest(&feed_id, &items).await?;
    worker.close().await?;
    println!(
        "feedwire backfill: {} items, {new} new stories, {} published, {undelivered} undelivered",
        items.len(),
        worker.metrics.count(&worker.metrics.messages, "published")
    );
    Ok(if undelivered > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}
