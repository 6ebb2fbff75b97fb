//! `feedwire feeds`: the feed list, which lives in the store (the config's
//! `[[feeds]]` are brought into it at every start), and `feeds check`.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Subcommand;
use feedwire::app;
use feedwire::config::{Config, FeedConfig};
use feedwire::feed::{Subscription, parse_opml, write_opml};
use feedwire::schedule::FeedHealth;
use feedwire::store::SharedStore;

use super::{ConfigArg, block_on, load_config, ok, report, with_config};

#[derive(Subcommand)]
pub(super) enum FeedsCommand {
    /// Add a feed to the store's feed list (workers pick it up within a
    /// minute).
    Add {
        #[command(flatten)]
        config: ConfigArg,
        /// Letters, digits, - and _; part of the routing key.
        id: String,
        url: String,
        /// A fixed polling interval ("5m").
        #[arg(long, value_parser = humantime::parse_duration)]
        interval: Option<Duration>,
        #[arg(long, value_parser = humantime::parse_duration)]
        min_interval: Option<Duration>,
        #[arg(long, value_parser = humantime::parse_duration)]
        max_interval: Option<Duration>,
        /// Overrides broker.routing_key for this feed.
        #[arg(long)]
        routing_key: Option<String>,
        /// Publish the feed's own text; do not fetch article pages.
        #[arg(long)]
        no_full_text: bool,
    },
    /// Remove a feed from the store's feed list (its stories and archive
    /// stay; a feed named in the config comes back at the next start).
    Remove {
        #[command(flatten)]
        config: ConfigArg,
        id: String,
    },
    /// Add a feed reader's OPML subscriptions to the store's feed list (ids
    /// from titles; known URLs skipped).
    ImportOpml {
        #[command(flatten)]
        config: ConfigArg,
        file: PathBuf,
    },
    /// Print the store's feed list as OPML.
    ExportOpml {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Each feed's state: last poll, next due, failures, stories.
    List {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Fetch (or read) one feed and print what the worker would make of it:
    /// a JSON line per item, then the feed's HTTP caching facts.
    Check {
        #[command(flatten)]
        config: ConfigArg,
        /// A feed URL, or a feed file on disk.
        target: String,
    },
}

pub(super) fn dispatch(command: FeedsCommand) -> ExitCode {
    match command {
        FeedsCommand::Add {
            config,
            id,
            url,
            interval,
            min_interval,
            max_interval,
            routing_key,
            no_full_text,
        } => with_config(&config.config, |config| {
            let feed = FeedConfig {
                interval,
                min_interval,
                max_interval,
                routing_key,
                fetch_full_text: no_full_text.then_some(false),
                ..FeedConfig::new(&id, &url)
            };
            block_on(add(&config, feed)).map(ok)
        }),
        FeedsCommand::Remove { config, id } => {
            with_config(&config.config, |config| block_on(remove(&config, &id)))
        }
        FeedsCommand::ImportOpml { config, file } => with_config(&config.config, |config| {
            block_on(import_opml(&config, &file)).map(ok)
        }),
        FeedsCommand::ExportOpml { config } => with_config(&config.config, |config| {
            block_on(export_opml(&config)).map(ok)
        }),
        FeedsCommand::List { config } => {
            with_config(&config.config, |config| block_on(list(&config)).map(ok))
        }
        FeedsCommand::Check { config, target } => check(&config.config, &target),
    }
}

async fn store(config: &Config) -> Result<SharedStore> {
    app::open_store(&config.store)
        .await
        .context("cannot open the store")
}

/// The store's feed list and the config's feeds (which the next start
/// brings into it).
async fn known_feeds(config: &Config, store: &SharedStore) -> Result<Vec<FeedConfig>> {
    let mut feeds = store.feeds().await?;
    feeds.extend(config.feeds.iter().cloned());
    Ok(feeds)
}

async fn add(config: &Config, feed: FeedConfig) -> Result<()> {
    feed.check(&config.poll, "feed")?;
    let store = store(config).await?;
    if store.feeds().await?.iter().any(|f| f.url == feed.url) {
        anyhow::bail!("a feed with the URL {} is in the list already", feed.url);
    }
    if store
        .add_feeds(std::slice::from_ref(&feed))
        .await?
        .is_empty()
    {
        anyhow::bail!("a feed with the id `{}` is in the list already", feed.id);
    }
    println!("added {} {}", feed.id, feed.url);
    Ok(())
}

async fn remove(config: &Config, id: &str) -> Result<ExitCode> {
    let store = store(config).await?;
    if !store.remove_feed(id).await? {
        eprintln!("feedwire: no feed `{id}` in the list");
        return Ok(ExitCode::FAILURE);
    }
    if config.feeds.iter().any(|f| f.id == id) {
        eprintln!(
            "feedwire: removed `{id}`; it is in the config too, so the next start adds it again"
        );
    } else {
        println!("removed {id}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn import_opml(config: &Config, file: &Path) -> Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let store = store(config).await?;
    let known = known_feeds(config, &store).await?;
    let mut taken: HashSet<String> = known.iter().map(|f| f.id.clone()).collect();
    let mut urls: HashSet<String> = known.into_iter().map(|f| f.url).collect();
    let mut added = Vec::new();
    let mut skipped = 0;
    for sub in parse_opml(&text) {
        if !urls.insert(sub.xml_url.clone()) {
            skipped += 1;
            continue;
        }
        let id = FeedConfig::new_id(sub.title.as_deref(), &sub.xml_url, &taken);
        let feed = FeedConfig::new(&id, &sub.xml_url);
        if let Err(error) = feed.check(&config.poll, &format!("outline {}", sub.xml_url)) {
            eprintln!("feedwire: skipping {}: {error}", sub.xml_url);
            skipped += 1;
            continue;
        }
        taken.insert(id);
        added.push(feed);
    }
    let ids = store.add_feeds(&added).await?;
    for feed in added.iter().filter(|f| ids.contains(&f.id)) {
        println!("added {} {}", feed.id, feed.url);
    }
    eprintln!(
        "feedwire: {} feeds added to the store, {skipped} already there or unusable",
        ids.len()
    );
    Ok(())
}

async fn export_opml(config: &Config) -> Result<()> {
    let store = store(config).await?;
    let titles: HashMap<String, Option<String>> = store
        .feed_states()
        .await?
        .into_iter()
        .map(|s| (s.feed_id, s.title))
        .collect();
    let subscriptions: Vec<Subscription> = store
        .feeds()
        .await?
        .into_iter()
        .map(|f| Subscription {
            title: titles.get(&f.id).cloned().flatten().or(Some(f.id)),
            xml_url: f.url,
        })
        .collect();
    print!("{}", write_opml("feedwire feeds", &subscriptions));
    Ok(())
}

async fn list(config: &Config) -> Result<()> {
    let store = store(config).await?;
    let states: HashMap<String, feedwire::store::FeedState> = store
        .feed_states()
        .await?
        .into_iter()
        .map(|s| (s.feed_id.clone(), s))
        .collect();
    let stories: HashMap<String, u64> = store.stories_per_feed().await?.into_iter().collect();
    let time = |ms: Option<i64>| {
        ms.and_then(chrono::DateTime::from_timestamp_millis)
            .map_or("-".to_string(), |t| {
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            })
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<28} {:<12} {:<21} {:<21} {:>8} {:>8}  last error",
        "feed", "state", "last poll", "next due", "failures", "stories"
    )?;
    for feed in store.feeds().await? {
        let state = states
            .get(&feed.id)
            .filter(|s| s.url == feed.url && s.last_polled_ms.is_some());
        let label = match state.map(|s| s.health()) {
            None => "never polled",
            Some(FeedHealth::Dead) => "dead",
            Some(FeedHealth::BackingOff) => "backing off",
            Some(FeedHealth::Healthy) => "healthy",
        };
        writeln!(
            out,
            "{:<28} {:<12} {:<21} {:<21} {:>8} {:>8}  {}",
            feed.id,
            label,
            time(state.and_then(|s| s.last_polled_ms)),
            time(state.map(|s| s.next_due_ms)),
            state.map_or(0, |s| s.consecutive_failures),
            stories.get(&feed.id).copied().unwrap_or(0),
            state.and_then(|s| s.last_error.as_deref()).unwrap_or("")
        )?;
    }
    Ok(())
}

/// `feeds check` works without a config (defaults, no store); a config that
/// is there but bad is refused like everywhere else (exit 2).
fn check(config_path: &Path, target: &str) -> ExitCode {
    let config = if config_path.exists() {
        match load_config(config_path) {
            Ok(config) => Some(config),
            Err(code) => return code,
        }
    } else {
        None
    };
    report(block_on(async {
        let store = match &config {
            Some(c) if c.store.url.is_some() || c.store.path.exists() => Some(store(c).await?),
            _ => None,
        };
        let report = feedwire::check::check_feed(target, config.as_ref(), store.as_deref()).await?;
        let mut out = std::io::stdout().lock();
        for item in &report.items {
            writeln!(out, "{}", serde_json::to_string(item)?)?;
        }
        writeln!(out, "{}", serde_json::to_string(&report.summary)?)?;
        Ok(())
    }))
}
