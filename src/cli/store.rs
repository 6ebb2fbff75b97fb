//! `feedwire store`: what the store holds.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use feedwire::app;
use feedwire::config::{Config, redact_url};
use feedwire::store::{MigrateOptions, PostgresStore, sqlite_to_postgres_with};

use super::{ConfigArg, block_on, ok, report, with_config};

#[derive(Subcommand)]
pub(super) enum StoreCommand {
    /// Counts of feeds, stories by state and archived messages, and sizes.
    Stats {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Move a SQLite store (archive included) into a PostgreSQL database, in
    /// one transaction; stop the worker first.
    Migrate {
        /// The SQLite store file.
        #[arg(long)]
        from: PathBuf,
        /// The PostgreSQL URL (or FEEDWIRE_STORE_URL).
        #[arg(long, env = "FEEDWIRE_STORE_URL")]
        to: String,
        /// Also into a database that holds a store already (its rows win).
        #[arg(long)]
        into_non_empty: bool,
    },
}

pub(super) fn dispatch(command: StoreCommand) -> ExitCode {
    match command {
        StoreCommand::Stats { config } => {
            with_config(&config.config, |config| block_on(stats(&config)).map(ok))
        }
        StoreCommand::Migrate {
            from,
            to,
            into_non_empty,
        } => report(block_on(migrate(&from, &to, into_non_empty))),
    }
}

async fn migrate(from: &Path, to: &str, into_non_empty: bool) -> Result<()> {
    if !from.exists() {
        anyhow::bail!("no SQLite store at {}", from.display());
    }
    let target = PostgresStore::connect(to, 4)
        .await
        .with_context(|| format!("cannot open {}", redact_url(to)))?;
    let options = MigrateOptions {
        into_non_empty,
        ..MigrateOptions::default()
    };
    let report = sqlite_to_postgres_with(from, &target, &options).await?;
    println!(
        "feedwire store migrate: {} -> {}\n{report}",
        from.display(),
        redact_url(to)
    );
    Ok(())
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
