//! The command line: one file per command, each turning its arguments into
//! calls of the library and its result into output and an exit code.
//! Process concerns (logging, the runtime, exit codes) live here.

mod backfill;
mod extract;
mod feeds;
mod replay;
mod run;
mod store;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use feedwire::config::{Config, ConfigError};

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

/// `--config`, from `FEEDWIRE_CONFIG` or the bundled default.
#[derive(clap::Args, Clone)]
struct ConfigArg {
    #[arg(long, env = "FEEDWIRE_CONFIG", default_value = "config/feedwire.toml")]
    config: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Run the worker: poll feeds, publish new and changed stories.
    Run(run::RunArgs),
    /// Print the clean text of a saved page (FILE, or - for stdin).
    Extract(extract::ExtractArgs),
    /// Re-publish archived messages (original message_id, header
    /// x-feedwire-replay: true) to a routing key or exchange.
    Replay(replay::ReplayArgs),
    /// Ingest history through the normal pipeline: a feed's RFC 5005
    /// pages/archives, a news sitemap (index), or a captured feed file.
    Backfill(backfill::BackfillArgs),
    /// The store: its contents, and moving it to PostgreSQL.
    Store {
        #[command(subcommand)]
        command: store::StoreCommand,
    },
    /// The feed list (kept in the store) and what the worker makes of a feed.
    Feeds {
        #[command(subcommand)]
        command: feeds::FeedsCommand,
    },
    /// Print messages as they are published, from a temporary queue; or,
    /// with --from, a stream queue's history from that point on.
    Tail {
        #[command(flatten)]
        config: ConfigArg,
        /// Routing-key pattern to follow (`article.bbc-world`, `article.#`).
        #[arg(long, default_value = "#", conflicts_with = "from")]
        binding: String,
        /// Read a stream queue from: first, last, next, an offset, or an
        /// RFC 3339 time.
        #[arg(long)]
        from: Option<feedwire::publish::StreamStart>,
        /// The stream queue to read (default: the config's first stream).
        #[arg(long, requires = "from")]
        stream: Option<String>,
        /// Stop after this many messages.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Validate the config and print it resolved (defaults filled in), the
    /// passwords masked.
    CheckConfig {
        #[command(flatten)]
        config: ConfigArg,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Extract(args) => report(extract::extract(args)),
        Command::Replay(args) => with_config(&args.config.config.clone(), |config| {
            block_on(replay::replay(config, args)).map(ok)
        }),
        Command::Backfill(args) => with_config(&args.config.config.clone(), |config| {
            block_on(backfill::backfill(config, args))
        }),
        Command::Store { command } => store::dispatch(command),
        Command::Feeds { command } => feeds::dispatch(command),
        Command::Tail {
            config,
            binding,
            from,
            stream,
            limit,
        } => with_config(&config.config, |config| {
            block_on(tail(&config, &binding, from, stream, limit)).map(ok)
        }),
        Command::CheckConfig { config } => match load_config(&config.config) {
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

async fn tail(
    config: &Config,
    binding: &str,
    from: Option<feedwire::publish::StreamStart>,
    stream: Option<String>,
    limit: Option<usize>,
) -> Result<()> {
    use feedwire::config::QueueKind;
    use feedwire::publish::{tail, tail_stream};
    let stop = feedwire::shutdown::Shutdown::on_signals(std::time::Duration::ZERO).shutdown;
    let Some(start) = from else {
        return tail(&config.broker, binding, limit, stop)
            .await
            .context("tail");
    };
    let queue = match stream {
        Some(queue) => queue,
        None => config
            .broker
            .queues
            .iter()
            .find(|q| q.kind == QueueKind::Stream)
            .map(|q| q.name.clone())
            .context("--from reads a stream queue: name one with --stream, or declare one in broker.queues")?,
    };
    tail_stream(&config.broker, &queue, start, limit, stop)
        .await
        .with_context(|| format!("tail of stream `{queue}`"))
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
fn with_config(path: &Path, command: impl FnOnce(Config) -> Result<ExitCode>) -> ExitCode {
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

/// Loads the config; a bad one is reported once, naming the key, exit 2.
fn load_config(path: &Path) -> Result<Config, ExitCode> {
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
    // html5ever warns at every parse error of a page ("foster parenting not
    // implemented"): a line per table cell of a broken page, no news.
    const QUIET: [&str; 3] = ["lapin", "amq_protocol", "html5ever"];
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
        .unwrap_or_else(|_| EnvFilter::new("info,lapin=error,amq_protocol=error,html5ever=error"));
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
