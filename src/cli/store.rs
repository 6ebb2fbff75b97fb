//! `feedwire store`: what the store holds.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use feedwire::app;
use feedwire::config::Config;

use super::{ConfigArg, block_on, ok, with_config};

#[derive(Subcommand)]
pub(super) enum StoreCommand {
    /// Counts of feeds, stories by state and archived messages, and sizes.
    Stats {
        #[command(flatten)]
        config: ConfigArg,
    },
}

pub(super) fn dispatch(command: StoreCommand) -> ExitCode {
    match command {
        StoreCommand::Stats { config } => {
            with_config(&config.config, |config| block_on(stats(&config)).map(ok))
        }
    }
}

async fn stats(config: &Config) -> Result<()> {
    let store = app::open_store(&config.store)
        .await
        .context("cannot open the store")?;
    let stats = store.stats().await?;
    let time = |ms: Option<i64>| {
        ms.and_then(chrono::DateTime::from_timestamp_millis)
            .map_or("-".to_string(), |t| {
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            })
    };
    let (location, size) = match &config.store.url {
        Some(url) => (feedwire::config::redact_url(url), None),
        None => (config.store.path.display().to_string(), store.size_bytes()),
    };
    println!("store          {location}");
    if let Some(size) = size {
        println!("file size      {size} bytes");
    }
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
    println!("workers        {}", store.workers().await?.len());
    Ok(())
}
