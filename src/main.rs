//! The `feedwire` binary: command-line parsing and process concerns (logging,
//! signals, exit codes). The work itself lives in the library.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use feedwire::config::{Config, ConfigError};
use feedwire::extract;
use feedwire::fetch::Fetcher;
use feedwire::ops::{Metrics, OpsServer, PER_FEED_LIMIT};
use feedwire::pipeline::Pipeline;
use feedwire::publish::{AmqpSink, PublishError, Sink, StdoutSink};
use feedwire::shutdown::Shutdown;
use feedwire::store::{SharedStore, SqliteStore};
use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};

#[derive(Parser)]
#[command(
    name = "feedwire",
    version,
    about = "Feed ingestion worker: RSS/Atom/JSON Feed → dedup → full text → RabbitMQ"
)]
struct Cli {
    /// Log format; json by default when stderr is not a terminal.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Json,
    Pretty,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum SinkKind {
    Amqp,
    Stdout,
}

#[derive(Subcommand)]
enum Command {
    /// Run the worker: poll feeds, publish new and changed stories.
    Run {
        #[arg(long, env = "FEEDWIRE_CONFIG", default_value = "config/feedwire.toml")]
        config: PathBuf,
        /// Poll every feed once, finish every story, wait for confirms, exit.
        #[arg(long)]
        once: bool,
        /// Where messages go: the broker, or JSON lines on stdout.
        #[arg(long, value_enum, default_value = "amqp")]
        sink: SinkKind,
    },
    /// Print the clean text of a saved page (FILE, or - for stdin).
    Extract {
        /// The page's URL (resolves relative links, picks site rules).
        #[arg(long)]
        url: Option<String>,
        /// Read {"id","url","html"} lines on stdin, write one result per line.
        #[arg(long)]
        jsonl: bool,
        file: Option<PathBuf>,
    },
    /// Re-publish archived messages (original message_id, header
    /// x-feedwire-replay: true) to a routing key or exchange.
    Replay {
        #[arg(long, env = "FEEDWIRE_CONFIG", default_value = "config/feedwire.toml")]
        config: PathBuf,
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
    },
    /// Ingest history through the normal pipeline: a feed's RFC 5005
    /// pages/archives, a news sitemap (index), or a captured feed file.
    Backfill {
        #[arg(long, env = "FEEDWIRE_CONFIG", default_value = "config/feedwire.toml")]
        config: PathBuf,
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
    },
    /// The store's contents.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Feed administration.
    Feeds {
        #[command(subcommand)]
        command: FeedsCommand,
    },
    /// Print messages as they are published, from a temporary queue.
    Tail {
        #[arg(long, env = "FEEDWIRE_CONFIG", default_value = "config/feedwire.toml")]
        config: PathBuf,
        /// Routing-key pattern to follow (`article.bbc-world`, `article.#`).
        #[arg(long, default_value = "#")]
        binding: String,
        /// Stop after this many messages.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Validate the config and print it resolved (defaults filled in), the
    /// broker password masked.
    CheckConfig {
        #[arg(long, env = "FEEDWIRE_CONFIG", default_value = "config/feedwire.toml")]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Counts of feeds, stories by state and archived messages, and sizes.
    Stats {
        #[arg(long, env = "FEEDWIRE_CONFIG", default_value = "config/feedwire.toml")]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum FeedsCommand {
    /// Add a feed reader's OPML subscriptions to the config file.
    ImportOpml {
        #[arg(long, env = "FEEDWIRE_CONFIG", default_value = "config/feedwire.toml")]
        config: PathBuf,
        file: PathBuf,
    },
    /// Fetch (or read) one feed and print what the worker would make of it:
    /// a JSON line per item, then the feed's HTTP caching facts.
    Check {
        #[arg(long, env = "FEEDWIRE_CONFIG", default_value = "config/feedwire.toml")]
        config: PathBuf,
        /// A feed URL, or a feed file on disk.
        target: String,
    },
    /// Each feed's state: last poll, next due, failures, stories.
    List {
        #[arg(long, env = "FEEDWIRE_CONFIG", default_value = "config/feedwire.toml")]
        config: PathBuf,
    },
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Runs a future to completion on a fresh runtime.
fn block_on<T>(future: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    runtime()?.block_on(future)
}

/// Loads the config (a bad one: one line, exit 2) and runs a command with it.
fn with_config(
    path: &std::path::Path,
    command: impl FnOnce(Config) -> Result<ExitCode>,
) -> ExitCode {
    match load_config(path) {
        Ok(config) => command(config).unwrap_or_else(|e| report(Err(e))),
        Err(code) => code,
    }
}

fn ok(_: ()) -> ExitCode {
    ExitCode::SUCCESS
}

/// Exit code for a command's result: its error printed once.
fn report(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("feedwire: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Run { config, once, sink } => {
            let config = match load_config(&config) {
                Ok(config) => config,
                Err(code) => return code,
            };
            let runtime = match runtime() {
                Ok(runtime) => runtime,
                Err(e) => return report(Err(e)),
            };
            let result = runtime.block_on(run(config, once, sink));
            // A parse still running on a blocking thread (its story was
            // abandoned at the end of the grace period) must not hold the
            // exit: the runtime is not waited for.
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
        Command::Extract { url, jsonl, file } => report(extract_command(url, jsonl, file)),
        Command::Feeds {
            command: FeedsCommand::ImportOpml { config, file },
        } => with_config(&config, |loaded| {
            import_opml(&config, &loaded, &file).map(ok)
        }),
        Command::Feeds {
            command: FeedsCommand::Check { config, target },
        } => report(block_on(check_feed(&config, &target))),
        Command::Feeds {
            command: FeedsCommand::List { config },
        } => with_config(&config, |config| block_on(list_feeds(&config)).map(ok)),
        Command::Replay {
            config,
            feeds,
            since,
            until,
            ids,
            routing_key,
            exchange,
            rate,
            dry_run,
        } => with_config(&config, |config| {
            let request = ReplayRequest {
                feeds,
                since,
                until,
                ids,
                routing_key,
                exchange,
                rate,
                dry_run,
            };
            block_on(replay_command(config, request)).map(ok)
        }),
        Command::Backfill {
            config,
            feed,
            since,
            sitemap,
            file,
        } => with_config(&config, |config| {
            block_on(backfill_command(config, feed, since, sitemap, file))
        }),
        Command::Store {
            command: StoreCommand::Stats { config },
        } => with_config(&config, |config| block_on(store_stats(&config)).map(ok)),
        Command::Tail {
            config,
            binding,
            limit,
        } => with_config(&config, |config| {
            block_on(async {
                let stop = Shutdown::on_signals(std::time::Duration::ZERO).shutdown;
                feedwire::publish::tail(&config.broker, &binding, limit, stop)
                    .await
                    .context("tail")
            })
            .map(ok)
        }),
        Command::CheckConfig { config } => match load_config(&config) {
            Ok(config) => {
                print!("{}", config.to_masked_toml());
                eprintln!(
                    "feedwire: config OK: {} feeds, exchange `{}`",
                    config.feeds.len(),
                    config.broker.exchange
                );
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
    }
}

/// Loads the config; a bad one is reported once, naming the key, exit 2.
fn load_config(path: &std::path::Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprintln!("feedwire: {e}");
        match e {
            ConfigError::Read { .. } | ConfigError::Invalid { .. } => ExitCode::from(2),
        }
    })
}

fn init_logging(format: Option<LogFormat>) {
    use tracing_subscriber::EnvFilter;
    // lapin logs each returned message with its body at WARN and its frames
    // (the login's password among them) at TRACE; amq-protocol-tcp logs the
    // broker URI, password included, at TRACE. Errors only from them, unless
    // RUST_LOG names them itself.
    const QUIET: [&str; 2] = ["lapin", "amq_protocol"];
    let user = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let mut directives = user.clone().unwrap_or_else(|| "info".into());
    for target in QUIET {
        if !user.as_deref().is_some_and(|u| u.contains(target)) {
            directives.push_str(&format!(",{target}=error"));
        }
    }
    let filter = EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| EnvFilter::new("info,lapin=error,amq_protocol=error"));
    let json = match format {
        Some(LogFormat::Json) => true,
        Some(LogFormat::Pretty) => false,
        None => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().with_current_span(true).init();
    } else {
        builder.init();
    }
}

async fn run(config: Config, once: bool, sink_kind: SinkKind) -> Result<ExitCode> {
    let config = Arc::new(config);
    let signals = Shutdown::on_signals(config.pipeline.shutdown_grace);
    let per_feed = config.ops.per_feed_metrics && config.feeds.len() <= PER_FEED_LIMIT;
    if config.ops.per_feed_metrics && !per_feed {
        info!(
            feeds = config.feeds.len(),
            "more than {PER_FEED_LIMIT} feeds: per-feed metric labels are off"
        );
    }
    let metrics = Arc::new(Metrics::new(per_feed));
    // Up first, so /healthz answers while the store opens and the broker is reached.
    let ops = match config.ops.listen {
        Some(listen) => Some(
            OpsServer::start(listen, Arc::clone(&metrics))
                .await
                .with_context(|| format!("cannot listen on ops.listen {listen}"))?,
        ),
        None => None,
    };
    let store: SharedStore =
        Arc::new(SqliteStore::open(&config.store.path).context("cannot open the store")?);
    let fetcher = Fetcher::new(&config.fetch).context("cannot build the HTTP client")?;
    let sink = match sink_kind {
        SinkKind::Stdout => Sink::Stdout(StdoutSink::default()),
        SinkKind::Amqp => match AmqpSink::connect(config.broker.clone(), &signals.shutdown).await {
            Ok(sink) => Sink::Amqp(sink),
            Err(PublishError::ShuttingDown) => {
                info!("stopped before the broker was reachable");
                return Ok(ExitCode::SUCCESS);
            }
            Err(e) => return Err(e).context("cannot connect to the broker"),
        },
    };
    let sink = Arc::new(sink);
    info!(
        feeds = config.feeds.len(),
        store = %config.store.path.display(),
        once,
        "feedwire started"
    );
    let synced = store
        .sync_feeds(&config.feeds)
        .await
        .context("cannot bring the config's feeds into the store")?;
    info!(
        added = synced.added,
        updated = synced.updated,
        removed = synced.removed,
        "feed list synchronised with the config"
    );
    let pipeline = Pipeline::new(
        Arc::clone(&config),
        Arc::clone(&store),
        feedwire::store::Claimant::this_process(std::time::Duration::from_secs(60)),
        fetcher,
        Arc::clone(&sink),
        Arc::clone(&metrics),
        signals.shutdown.clone(),
        signals.abort.clone(),
    );
    if let Some(ops) = &ops {
        wire_ops(ops, &config, &sink, &pipeline, &signals);
    }
    let undelivered = if once {
        pipeline.run_once().await
    } else {
        pipeline.run_forever().await;
        0
    };
    sink.close().await;
    store.checkpoint().await.context("cannot flush the store")?;
    info!(summary = %metrics.summary(), "feedwire stopped");
    if once {
        eprintln!("feedwire: {}; unfinished {undelivered}", metrics.summary());
    }
    if undelivered > 0 {
        warn!(
            unfinished = undelivered,
            "some stories were not delivered; the next run retries them"
        );
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

struct ReplayRequest {
    feeds: Vec<String>,
    since: Option<String>,
    until: Option<String>,
    ids: Option<PathBuf>,
    routing_key: Option<String>,
    exchange: Option<String>,
    rate: Option<f64>,
    dry_run: bool,
}

async fn replay_command(config: Config, request: ReplayRequest) -> Result<()> {
    use feedwire::replay::{ReplayOptions, ReplayTarget, parse_time, replay};
    use feedwire::store::Store;
    let time = |t: &Option<String>| {
        t.as_deref()
            .map(parse_time)
            .transpose()
            .map_err(anyhow::Error::msg)
    };
    let ids = match &request.ids {
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
    let target = match (request.routing_key, request.exchange) {
        (_, Some(exchange)) => ReplayTarget::Exchange(exchange),
        (Some(key), None) => ReplayTarget::RoutingKey(key),
        (None, None) => ReplayTarget::RoutingKey(String::new()),
    };
    let options = ReplayOptions {
        feeds: request.feeds,
        since: time(&request.since)?,
        until: time(&request.until)?,
        ids,
        target,
        rate: request.rate,
    };
    let store = SqliteStore::open(&config.store.path).context("cannot open the store")?;
    let stop = Shutdown::on_signals(std::time::Duration::ZERO).shutdown;
    let sink = if request.dry_run {
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
    let run = replay(&store, sink.as_ref(), &options, |scanned, _| {
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
    let verb = if request.dry_run {
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

async fn backfill_command(
    config: Config,
    feed: Option<String>,
    since: Option<String>,
    sitemap: Option<String>,
    file: Option<PathBuf>,
) -> Result<ExitCode> {
    use feedwire::backfill::{BackfillSource, collect};
    let since = since
        .as_deref()
        .map(feedwire::replay::parse_time)
        .transpose()
        .map_err(anyhow::Error::msg)?
        .map(|bound| bound.resolve(chrono::Utc::now().timestamp_millis()))
        .and_then(chrono::DateTime::from_timestamp_millis);
    let source = match (&sitemap, &file, &feed) {
        (Some(url), _, _) => {
            BackfillSource::Sitemap(url::Url::parse(url).context("--sitemap is not a URL")?)
        }
        (None, Some(path), _) => BackfillSource::File(path.clone()),
        (None, None, Some(id)) => {
            let feed = config
                .feed(id)
                .with_context(|| format!("no feed `{id}` in the config"))?;
            BackfillSource::Feed(url::Url::parse(&feed.url)?)
        }
        (None, None, None) => anyhow::bail!("give --feed ID, --sitemap URL or --file FEED.xml"),
    };
    let feed_id = feed.unwrap_or_else(|| "backfill".into());
    let config = Arc::new(config);
    let signals = Shutdown::on_signals(config.pipeline.shutdown_grace);
    let fetcher = Fetcher::new(&config.fetch).context("cannot build the HTTP client")?;
    let items = collect(&fetcher, &source, since).await?;
    info!(items = items.len(), feed_id = %feed_id, "backfill: items collected");
    let store: SharedStore =
        Arc::new(SqliteStore::open(&config.store.path).context("cannot open the store")?);
    let sink = match AmqpSink::connect(config.broker.clone(), &signals.shutdown).await {
        Ok(sink) => Arc::new(Sink::Amqp(sink)),
        Err(PublishError::ShuttingDown) => return Ok(ExitCode::SUCCESS),
        Err(e) => return Err(e).context("cannot connect to the broker"),
    };
    let metrics = Arc::new(Metrics::new(false));
    let pipeline = Pipeline::new(
        Arc::clone(&config),
        store,
        feedwire::store::Claimant::this_process(std::time::Duration::from_secs(60)),
        fetcher,
        Arc::clone(&sink),
        metrics,
        signals.shutdown.clone(),
        signals.abort.clone(),
    );
    let (new, undelivered) = pipeline.ingest(&feed_id, &items).await?;
    sink.close().await;
    println!(
        "feedwire backfill: {} items, {new} new stories, {} published, {undelivered} undelivered",
        items.len(),
        pipeline
            .metrics()
            .count(&pipeline.metrics().messages, "published")
    );
    Ok(if undelivered > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

async fn store_stats(config: &Config) -> Result<()> {
    use feedwire::store::Store;
    let store = SqliteStore::open(&config.store.path).context("cannot open the store")?;
    let stats = store.stats().await?;
    let size = feedwire::store::files_size(&config.store.path);
    let time = |ms: Option<i64>| {
        ms.and_then(chrono::DateTime::from_timestamp_millis)
            .map_or("-".to_string(), |t| {
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            })
    };
    println!("store          {}", config.store.path.display());
    println!("file size      {size} bytes");
    println!("feeds          {}", stats.feeds);
    println!(
        "stories        {} ({} published, {} fetched, {} discovered)",
        stats.stories, stats.published, stats.fetched, stats.discovered
    );
    println!(
        "archive        {} messages, {} bytes, {} .. {}",
        stats.archived_messages,
        stats.archive_bytes,
        time(stats.archive_oldest_ms),
        time(stats.archive_newest_ms)
    );
    Ok(())
}

fn import_opml(path: &std::path::Path, config: &Config, file: &std::path::Path) -> Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut taken: std::collections::HashSet<String> =
        config.feeds.iter().map(|f| f.id.clone()).collect();
    let mut added = Vec::new();
    let mut skipped = 0;
    for sub in feedwire::feed::parse_opml(&text) {
        let known = config.feeds.iter().any(|f| f.url == sub.xml_url)
            || added
                .iter()
                .any(|f: &feedwire::config::FeedConfig| f.url == sub.xml_url);
        if known {
            skipped += 1;
            continue;
        }
        let id = Config::new_feed_id(sub.title.as_deref(), &sub.xml_url, &taken);
        taken.insert(id.clone());
        added.push(feedwire::config::FeedConfig {
            id,
            url: sub.xml_url,
            interval: None,
            min_interval: None,
            max_interval: None,
            routing_key: None,
            fetch_full_text: None,
        });
    }
    Config::append_feeds(path, &added)?;
    for feed in &added {
        println!("added {} {}", feed.id, feed.url);
    }
    eprintln!(
        "feedwire: {} feeds added to {}, {skipped} already there",
        added.len(),
        path.display()
    );
    Ok(())
}

/// `feeds check`: works without a config (defaults, no store), and uses the
/// config's fetch settings and store when there is one.
async fn check_feed(config_path: &std::path::Path, target: &str) -> Result<()> {
    use feedwire::fetch::{FeedResponse, Validators};
    use feedwire::schedule::{self, Pace};
    use feedwire::store::Store;
    use url::Url;
    let config = config_path
        .exists()
        .then(|| Config::load(config_path))
        .transpose()?;
    let store = config
        .as_ref()
        .map(|c| &c.store.path)
        .filter(|p| p.exists())
        .map(|p| SqliteStore::open(p))
        .transpose()
        .context("cannot open the store")?;
    let (body, content_type, base, http, http_fresh_for) = if std::path::Path::new(target).exists()
    {
        let body = std::fs::read(target).with_context(|| format!("reading {target}"))?;
        (body, None, None, serde_json::Value::Null, None)
    } else {
        let url = url::Url::parse(target).context("not a file and not a URL")?;
        let fetch_config = config.as_ref().map(|c| c.fetch.clone()).unwrap_or_default();
        let fetcher = Fetcher::new(&fetch_config)?;
        match fetcher.fetch_feed(&url, &Validators::default()).await? {
            FeedResponse::Fetched {
                body,
                content_type,
                validators,
                freshness,
                final_url,
                moved_to,
            } => {
                let fresh_for = freshness.fresh_for();
                let http = serde_json::json!({
                    "status": 200,
                    "final_url": final_url.as_str(),
                    "moved_permanently_to": moved_to.as_ref().map(Url::as_str),
                    "content_type": content_type,
                    "etag": validators.etag,
                    "last_modified": validators.last_modified,
                    "cache_control": freshness.cache_control,
                    "expires": freshness.expires,
                    "date": freshness.date,
                    "fresh_for_seconds": fresh_for.map(|d| d.as_secs()),
                    "conditional_get": validators.etag.is_some() || validators.last_modified.is_some(),
                });
                (body, content_type, Some(final_url), http, fresh_for)
            }
            FeedResponse::NotModified { .. } => {
                anyhow::bail!("unexpected 304 to an unconditional GET")
            }
        }
    };
    let parsed = feedwire::feed::parse_feed(&body, content_type.as_deref(), base.as_ref())?;
    let feed_id = config
        .as_ref()
        .and_then(|c| c.feeds.iter().find(|f| f.url == target))
        .map_or("check", |f| f.id.as_str());
    let document = feedwire::dedup::identify(feed_id, &parsed.items);
    let mut out = std::io::stdout().lock();
    for (index, item) in parsed.items.iter().enumerate() {
        let (first, identity) = &document.stories[document.story_of_item[index]];
        let known = match &store {
            Some(store) => Some(store.lookup(identity).await?.is_some()),
            None => None,
        };
        let line = serde_json::json!({
            "key": identity.key,
            "story_id": identity.story_id(),
            "url": identity.url,
            "guid": item.guid,
            "title": item.title,
            "published": item.published.map(|t| t.to_rfc3339()),
            "updated": item.updated.map(|t| t.to_rfc3339()),
            "new": known.map(|k| !k),
            "same_story_as_item": (*first != index).then_some(*first),
        });
        writeln!(out, "{line}")?;
    }
    // The same plan the worker makes after this poll (without its jitter).
    let poll = config.as_ref().map(|c| c.poll.clone()).unwrap_or_default();
    let feed = config
        .as_ref()
        .and_then(|c| c.feeds.iter().find(|f| f.url == target));
    let policy = poll.policy_for(feed);
    let now = chrono::Utc::now().timestamp_millis();
    let pace = Pace::of_items(&parsed.items, now);
    let ttl = parsed
        .ttl_minutes
        .map(|m| std::time::Duration::from_secs(u64::from(m) * 60));
    let interval = policy.interval(&pace, ttl, http_fresh_for, now);
    let next_poll = schedule::not_skipped(now + interval.as_millis() as i64, parsed.skip);
    let next_poll = chrono::DateTime::from_timestamp_millis(next_poll).unwrap_or_default();
    let bits = |mask: u32, n: u32| (0..n).filter(|b| mask & (1 << b) != 0).collect::<Vec<_>>();
    let summary = serde_json::json!({
        "feed": {
            "format": parsed.format,
            "title": parsed.title,
            "language": parsed.language,
            "items": parsed.items.len(),
            "ttl_minutes": parsed.ttl_minutes,
            "skip_hours": bits(parsed.skip.hours, 24),
            "skip_days_from_monday": bits(u32::from(parsed.skip.days), 7),
            "median_item_gap_seconds": pace.median_gap_ms.map(|ms| ms / 1000),
            "links": parsed.links,
            "ambiguous_keys": document.ambiguous,
        },
        "http": http,
        "interval_seconds": interval.as_secs(),
        "next_poll": next_poll.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    writeln!(out, "{summary}")?;
    Ok(())
}

async fn list_feeds(config: &Config) -> Result<()> {
    use feedwire::store::Store;
    let store = SqliteStore::open(&config.store.path).context("cannot open the store")?;
    let states: std::collections::HashMap<String, feedwire::store::FeedState> = store
        .feed_states()
        .await?
        .into_iter()
        .map(|s| (s.feed_id.clone(), s))
        .collect();
    let stories: std::collections::HashMap<String, u64> =
        store.stories_per_feed().await?.into_iter().collect();
    let time = |ms: Option<i64>| {
        ms.and_then(chrono::DateTime::from_timestamp_millis)
            .map_or("-".to_string(), |t| {
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            })
    };
    println!(
        "{:<28} {:<12} {:<21} {:<21} {:>8} {:>8}  last error",
        "feed", "state", "last poll", "next due", "failures", "stories"
    );
    for feed in &config.feeds {
        let state = states.get(&feed.id).filter(|s| s.url == feed.url);
        let failures = state.map_or(0, |s| s.consecutive_failures);
        let label = match state {
            None => "never polled",
            Some(s) => match s.health() {
                feedwire::schedule::FeedHealth::Dead => "dead",
                feedwire::schedule::FeedHealth::BackingOff => "backing off",
                feedwire::schedule::FeedHealth::Healthy => "healthy",
            },
        };
        println!(
            "{:<28} {:<12} {:<21} {:<21} {:>8} {:>8}  {}",
            feed.id,
            label,
            time(state.and_then(|s| s.last_polled_ms)),
            time(state.map(|s| s.next_due_ms)),
            failures,
            stories.get(&feed.id).copied().unwrap_or(0),
            state.and_then(|s| s.last_error.as_deref()).unwrap_or("")
        );
    }
    Ok(())
}

/// Readiness (broker connected, queue not full, not shutting down) and the
/// gauges that are read at scrape time.
fn wire_ops(
    ops: &OpsServer,
    config: &Config,
    sink: &Arc<Sink>,
    pipeline: &Arc<Pipeline>,
    signals: &Shutdown,
) {
    let (ready_sink, ready_pipeline) = (Arc::clone(sink), Arc::clone(pipeline));
    let shutdown = signals.shutdown.clone();
    ops.set_readiness(Box::new(move || {
        if shutdown.is_cancelled() {
            Err("shutting down".into())
        } else if !ready_sink.is_connected() {
            Err("broker disconnected".into())
        } else if ready_pipeline.backpressured() {
            Err("backpressured: the story queue is full".into())
        } else {
            Ok(())
        }
    }));
    let (sink, pipeline) = (Arc::clone(sink), Arc::clone(pipeline));
    let store_path = config.store.path.clone();
    ops.set_refresh(Box::new(move || {
        let metrics = pipeline.metrics();
        metrics.broker_connected.set(i64::from(sink.is_connected()));
        pipeline.refresh_feed_states();
        metrics
            .store_size_bytes
            .set(feedwire::store::files_size(&store_path) as i64);
    }));
}

#[derive(Deserialize)]
struct ExtractRequest {
    id: serde_json::Value,
    url: Option<String>,
    html: String,
}

#[derive(Serialize)]
struct ExtractResponse<'a> {
    id: &'a serde_json::Value,
    /// Time spent in `extract::extract` alone (no JSON in or out), so that
    /// per-page speed can be compared with another extractor's.
    extract_ms: f64,
    #[serde(flatten)]
    extracted: &'a extract::Extracted,
}

fn extract_command(url: Option<String>, jsonl: bool, file: Option<PathBuf>) -> Result<()> {
    let base = url
        .as_deref()
        .map(url::Url::parse)
        .transpose()
        .context("--url is not an absolute URL")?;
    if jsonl {
        let stdin = std::io::stdin().lock();
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for line in stdin.lines() {
            let line = line.context("reading stdin")?;
            if line.trim().is_empty() {
                continue;
            }
            let request: ExtractRequest = match serde_json::from_str(&line) {
                Ok(request) => request,
                Err(e) => {
                    eprintln!("feedwire extract: skipping a line that is not a request: {e}");
                    continue;
                }
            };
            let page_url = request
                .url
                .as_deref()
                .and_then(|u| url::Url::parse(u).ok())
                .or_else(|| base.clone());
            let started = std::time::Instant::now();
            let extracted = extract::extract(&request.html, page_url.as_ref());
            let extract_ms = started.elapsed().as_secs_f64() * 1000.0;
            serde_json::to_writer(
                &mut out,
                &ExtractResponse {
                    id: &request.id,
                    extract_ms,
                    extracted: &extracted,
                },
            )?;
            out.write_all(b"\n")?;
            out.flush()?;
        }
        return Ok(());
    }
    let mut bytes = Vec::new();
    match file.as_deref() {
        None => anyhow::bail!("give a FILE (or - for stdin), or --jsonl"),
        Some(path) if path.as_os_str() == "-" => {
            std::io::stdin().read_to_end(&mut bytes)?;
        }
        Some(path) => {
            bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        }
    }
    let html = extract::decode_html(&bytes, None);
    let extracted = extract::extract(&html, base.as_ref());
    writeln!(std::io::stdout().lock(), "{}", extracted.text)?;
    Ok(())
}
