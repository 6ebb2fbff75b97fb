//! End-to-end pipeline benchmark: poll → dedup → fetch → extract → publish
//! with confirms, against a local farm of real pages and the local RabbitMQ.
//!
//!     cargo bench --bench pipeline -- [--feeds 200] [--items 25] [--farm-url URL]
//!                                     [--story-concurrency 16] [--dynamic-gzip]
//!                                     [--postgres [--workers N]]
//!
//! Without `--farm-url` it builds a farm from `../shared/data/extraction`
//! with `../shared/tools/feedfarm.py` and serves it with nginx when nginx is
//! installed (the Python server otherwise). nginx sends the pages gzipped
//! once beforehand, as a CDN does; `--dynamic-gzip` has it compress every
//! response instead. Prints stories/s end to end,
//! story latency percentiles (queued → confirmed, dequeued → confirmed), CPU
//! seconds and peak RSS of this process (the worker runs in it).
//!
//! `--postgres` keeps the state in PostgreSQL (a schema of its own on
//! `FEEDWIRE_BENCH_POSTGRES_URL`, default the local `test` database) instead
//! of SQLite, with `--workers N` workers in this process sharing it, and
//! prints the database round trips per story.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{config_head, delete_topology};
use feedwire::app::{self, Worker};
use feedwire::config::Config;
use feedwire::ops::{LatencyHistogram, Metrics, cpu_time, peak_rss_bytes};
use feedwire::publish::{AmqpSink, Sink};
use feedwire::shutdown::Shutdown;
use feedwire::store::{Claimant, PostgresStore, SharedStore};

struct Args {
    feeds: usize,
    items: usize,
    farm_url: Option<String>,
    story_concurrency: usize,
    /// nginx compresses every page on every request (`gzip on`) instead of
    /// sending pages compressed once beforehand (`gzip_static`).
    dynamic_gzip: bool,
    postgres: bool,
    workers: usize,
    /// Near-duplicate lookup off (`duplicates.enabled = false`): what the
    /// lookup costs, as the difference from a run with it on.
    no_duplicates: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        feeds: 200,
        items: 25,
        farm_url: None,
        story_concurrency: 16,
        dynamic_gzip: false,
        postgres: false,
        workers: 1,
        no_duplicates: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--feeds" => args.feeds = it.next().and_then(|v| v.parse().ok()).expect("--feeds N"),
            "--items" => args.items = it.next().and_then(|v| v.parse().ok()).expect("--items N"),
            "--farm-url" => args.farm_url = it.next(),
            "--story-concurrency" => {
                args.story_concurrency = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--story-concurrency N")
            }
            "--dynamic-gzip" => args.dynamic_gzip = true,
            "--postgres" => args.postgres = true,
            "--no-duplicates" => args.no_duplicates = true,
            "--workers" => {
                args.workers = it.next().and_then(|v| v.parse().ok()).expect("--workers N")
            }
            _ => {} // cargo bench passes --bench
        }
    }
    args
}

/// A farm served for the length of the benchmark.
struct Farm {
    base: String,
    feed_ids: Vec<String>,
    server: Option<Child>,
    nginx_conf: Option<PathBuf>,
}

impl Drop for Farm {
    fn drop(&mut self) {
        if let Some(conf) = &self.nginx_conf {
            let _ = Command::new("nginx")
                .args(["-c", &conf.to_string_lossy(), "-s", "stop"])
                .status();
        }
        if let Some(child) = &mut self.server {
            let _ = child.kill();
        }
    }
}

fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// Writes `page.gz` beside every page and has nginx send those as they are:
/// a news site's CDN caches compressed pages, it does not gzip each request,
/// and on a 2-core box a per-request gzip takes CPU from the worker.
fn precompress_pages(news: &Path, conf: &Path) {
    use std::io::Write;
    for entry in std::fs::read_dir(news).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "gz") {
            continue;
        }
        let gz = path.with_extension("gz");
        if gz.exists() {
            continue;
        }
        let mut encoder = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::new(6),
        );
        encoder.write_all(&std::fs::read(&path).unwrap()).unwrap();
        encoder.finish().unwrap();
    }
    let text = std::fs::read_to_string(conf).unwrap();
    if !text.contains("gzip_static on;") {
        std::fs::write(
            conf,
            text.replace("gzip on;", "gzip on;\n    gzip_static on;"),
        )
        .unwrap();
    }
}

fn build_farm(feeds: usize, items: usize, dynamic_gzip: bool) -> Farm {
    let shared = shared_dir();
    let tool = shared.join("tools/feedfarm.py");
    assert!(
        tool.exists(),
        "no ../shared/tools/feedfarm.py: pass --farm-url of a running farm"
    );
    let dir = std::env::temp_dir().join(format!("feedwire-bench-farm-{feeds}x{items}"));
    if !dir.join("farm.json").exists() {
        let pages = shared.join("data/extraction/*/source.html");
        let status = Command::new("python3")
            .arg(&tool)
            .args(["generate", "--pages"])
            .arg(&pages)
            .arg("--out")
            .arg(&dir)
            .args(["--feeds", &feeds.to_string(), "--items", &items.to_string()])
            .status()
            .expect("python3 runs");
        assert!(status.success(), "feedfarm generate failed");
    }
    let farm: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("farm.json")).unwrap()).unwrap();
    let feed_ids = farm["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    let port = 18090;
    let base = format!("http://127.0.0.1:{port}");
    let has_nginx = Command::new("nginx")
        .arg("-v")
        .stderr(Stdio::null())
        .status()
        .is_ok();
    let mut result = Farm {
        base: base.clone(),
        feed_ids,
        server: None,
        nginx_conf: None,
    };
    if has_nginx {
        let out = dir.join("static");
        let status = Command::new("python3")
            .arg(&tool)
            .args(["static", "--dir"])
            .arg(&dir)
            .args(["--base", &base, "--out"])
            .arg(&out)
            .stdout(Stdio::null())
            .status()
            .expect("python3 runs");
        assert!(status.success(), "feedfarm static failed");
        let conf = out.join("nginx.conf");
        if !dynamic_gzip {
            precompress_pages(&out.join("news"), &conf);
        }
        let _ = Command::new("nginx")
            .args(["-c", &conf.to_string_lossy(), "-s", "stop"])
            .stderr(Stdio::null())
            .status();
        std::thread::sleep(Duration::from_millis(200));
        let status = Command::new("nginx")
            .args(["-c", &conf.to_string_lossy()])
            .status()
            .expect("nginx starts");
        assert!(status.success(), "nginx failed to start");
        result.nginx_conf = Some(conf);
        eprintln!("bench: farm served by nginx at {base}");
    } else {
        let child = Command::new("python3")
            .arg(&tool)
            .args(["serve", "--dir"])
            .arg(&dir)
            .args(["--port", &port.to_string()])
            .stdout(Stdio::null())
            .spawn()
            .expect("python3 runs");
        result.server = Some(child);
        eprintln!("bench: farm served by feedfarm.py at {base} (install nginx for a faster farm)");
    }
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    result
}

fn config_for(
    farm: &Farm,
    feed_ids: &[String],
    tag: &str,
    store: &Path,
    story_concurrency: usize,
    duplicates: bool,
) -> Config {
    let host = farm
        .base
        .trim_start_matches("http://")
        .split(':')
        .next()
        .unwrap_or("127.0.0.1")
        .to_string();
    let mut text = config_head(tag, store, &host, 32);
    text.push_str(&format!(
        "[fetch]\nallow_private_networks = true\n[pipeline]\nstory_concurrency = {story_concurrency}\n[duplicates]\nenabled = {duplicates}\n"
    ));
    for id in feed_ids {
        text.push_str(&format!(
            "\n[[feeds]]\nid = \"{id}\"\nurl = \"{}/feeds/{id}.xml\"\n",
            farm.base
        ));
    }
    Config::from_toml(&text, None).expect("bench config is valid")
}

/// CPU time of this process's threads, summed by thread name (Linux's
/// `/proc/self/task/*/schedstat`; empty elsewhere): where a story's CPU goes.
fn cpu_by_thread() -> BTreeMap<String, Duration> {
    let mut spent = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return spent;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let ns = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok());
        if let Some(ns) = ns {
            *spent.entry(name.trim().to_string()).or_default() += Duration::from_nanos(ns);
        }
    }
    spent
}

fn ms(h: &LatencyHistogram, q: f64) -> String {
    h.quantile(q)
        .map_or("-".into(), |d| format!("{:.1}", d.as_secs_f64() * 1000.0))
}

fn main() {
    let args = parse_args();
    let farm = match &args.farm_url {
        Some(url) => Farm {
            base: url.trim_end_matches('/').to_string(),
            feed_ids: (0..args.feeds).map(|i| format!("f{i:05}")).collect(),
            server: None,
            nginx_conf: None,
        },
        None => build_farm(args.feeds, args.items, args.dynamic_gzip),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let tag = format!("feedwire.bench.{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(config_for(
        &farm,
        &farm.feed_ids,
        &tag,
        &dir.path().join("bench.db"),
        args.story_concurrency,
        !args.no_duplicates,
    ));
    runtime.block_on(async {
        let signals = Shutdown::default();
        let schema = match args.postgres {
            true => Some(Schema::create().await),
            false => None,
        };
        let metrics = Arc::new(Metrics::new(false));
        let sink = AmqpSink::connect(config.broker.clone(), &signals.shutdown)
            .await
            .expect("RabbitMQ answers on 127.0.0.1:5672");
        let sink = Arc::new(Sink::Amqp(sink));
        let mut workers = Vec::new();
        let mut postgres = Vec::new();
        for n in 0..args.workers.max(1) {
            let store: SharedStore = match &schema {
                Some(schema) => {
                    let store = Arc::new(PostgresStore::connect(&schema.url(), 16).await.unwrap());
                    postgres.push(Arc::clone(&store));
                    store
                }
                None => app::open_store(&config.store).await.unwrap(),
            };
            let claimant = Claimant::new("bench", n as u32 + 1, Duration::from_secs(60));
            let worker = Worker::assemble_as(
                claimant,
                Arc::clone(&config),
                store,
                Arc::clone(&sink),
                Arc::clone(&metrics),
                &signals,
            )
            .await
            .unwrap();
            workers.push(worker);
        }
        let trips = |stores: &[Arc<PostgresStore>]| stores.iter().map(|s| s.round_trips()).sum::<u64>();
        let trips0 = trips(&postgres);
        let server0 = postgres_server_cpu();
        let cpu0 = cpu_time().unwrap_or_default();
        let threads0 = cpu_by_thread();
        let t0 = Instant::now();
        let runs = workers.iter().map(|w| {
            let pipeline = Arc::clone(&w.pipeline);
            tokio::spawn(async move { pipeline.run_once().await })
        });
        let undelivered: u64 = futures_util::future::join_all(runs)
            .await
            .into_iter()
            .map(|r| r.unwrap())
            .max()
            .unwrap_or(0);
        let wall = t0.elapsed();
        let round_trips = trips(&postgres) - trips0;
        let server_cpu = postgres_server_cpu().saturating_sub(server0);
        let cpu = cpu_time().unwrap_or_default().saturating_sub(cpu0);
        let mut threads = cpu_by_thread();
        for (name, spent) in threads.iter_mut() {
            *spent = spent.saturating_sub(threads0.get(name).copied().unwrap_or_default());
        }
        sink.close().await;
        let stats = &metrics;
        let published = stats.count(&stats.messages, "published");
        println!(
            "pipeline bench: {} feeds x {} items at {}; store: {}; near-duplicate lookup {}",
            farm.feed_ids.len(),
            args.items,
            farm.base,
            match &schema {
                Some(_) => format!("PostgreSQL, {} worker(s) in this process", workers.len()),
                None => "SQLite".to_string(),
            },
            if args.no_duplicates { "off" } else { "on" }
        );
        println!(
            "  stories published (confirmed): {published}  undelivered: {undelivered}  page failures: {}",
            stats.count(&stats.extractions, "failed")
        );
        println!(
            "  wall: {:.2} s  throughput: {:.0} stories/s end to end",
            wall.as_secs_f64(),
            published as f64 / wall.as_secs_f64()
        );
        println!(
            "  story latency (queued -> confirmed) ms: p50 {} p90 {} p99 {} max {}",
            ms(&stats.story_latency, 0.5),
            ms(&stats.story_latency, 0.9),
            ms(&stats.story_latency, 0.99),
            ms(&stats.story_latency, 1.0)
        );
        println!(
            "  processing latency (dequeued -> confirmed) ms: p50 {} p90 {} p99 {}",
            ms(&stats.processing_latency, 0.5),
            ms(&stats.processing_latency, 0.9),
            ms(&stats.processing_latency, 0.99)
        );
        println!(
            "  cpu: {:.2} s ({:.2} ms/story)  peak RSS: {:.1} MB",
            cpu.as_secs_f64(),
            cpu.as_secs_f64() * 1000.0 / published.max(1) as f64,
            peak_rss_bytes().unwrap_or(0) as f64 / 1_048_576.0
        );
        if !threads.is_empty() {
            let per_story = |d: &Duration| d.as_secs_f64() * 1000.0 / published.max(1) as f64;
            let shares: Vec<String> = threads
                .iter()
                .filter(|(_, spent)| !spent.is_zero())
                .map(|(name, spent)| format!("{name} {:.2} ms", per_story(spent)))
                .collect();
            println!("  cpu per story by thread: {}", shares.join(", "));
        }
        if schema.is_some() {
            println!(
                "  database round trips: {round_trips} ({:.1} per story)",
                round_trips as f64 / published.max(1) as f64
            );
            println!(
                "  PostgreSQL server cpu (its processes on this machine): {:.2} s ({:.2} ms/story)",
                server_cpu.as_secs_f64(),
                server_cpu.as_secs_f64() * 1000.0 / published.max(1) as f64
            );
        }
        delete_topology(&tag).await;
        if let Some(schema) = schema {
            schema.drop().await;
        }
    });
}

/// CPU time of every process named `postgres` on this machine (the local
/// server and its backends; a backend that exits takes its time with it,
/// but the pool keeps them for the whole run).
fn postgres_server_cpu() -> Duration {
    let tick = 100.0; // USER_HZ on Linux
    let mut total = 0u64;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if &stat[open + 1..close] != "postgres" {
            continue;
        }
        // Fields after the name: state is the 3rd field, utime the 14th, stime the 15th.
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
        total += field(14).unwrap_or(0) + field(15).unwrap_or(0);
    }
    Duration::from_secs_f64(total as f64 / tick)
}

/// A PostgreSQL schema of its own for one bench run.
struct Schema(String);

impl Schema {
    fn server() -> String {
        std::env::var("FEEDWIRE_BENCH_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
    }

    async fn admin() -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&Self::server(), tokio_postgres::NoTls)
            .await
            .expect("PostgreSQL answers (FEEDWIRE_BENCH_POSTGRES_URL)");
        tokio::spawn(connection);
        client
    }

    async fn create() -> Schema {
        let name = format!("fw_bench_{}", std::process::id());
        Self::admin()
            .await
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .unwrap();
        Schema(name)
    }

    fn url(&self) -> String {
        let base = Self::server();
        let join = if base.contains('?') { '&' } else { '?' };
        format!("{base}{join}options=-c%20search_path%3D{}", self.0)
    }

    async fn drop(self) {
        let _ = Self::admin()
            .await
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.0))
            .await;
    }
}
