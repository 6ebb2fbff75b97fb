//! Scheduler benchmark: many feeds polled with conditional GET against a
//! local nginx that answers 304.
//!
//!     cargo bench --bench polling -- [--feeds 100000] [--files 1000]
//!                                    [--interval 10s] [--seconds 60] [--concurrency 64]
//!
//! nginx serves `--files` small RSS files; feed `i` is file `i % files` with
//! `?feed=i`, so every feed is its own URL and store row while nginx's
//! ETag/Last-Modified answer the conditional requests. Round 1 (`run_once`)
//! fetches and parses every feed and records its validators; round 2 runs
//! the real scheduler (`run_forever`) for `--seconds`, every feed pinned to
//! `--interval`: 100,000 feeds every 10 s ask for 10,000 polls/s, more
//! than the worker can do, so it runs flat out and the rate is its capacity. Prints conditional polls/s, CPU seconds per 1,000 polls
//! and peak RSS of this process (the worker runs in it).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{config_head, delete_topology};
use feedwire::app::{self, Worker};
use feedwire::config::{Config, FeedConfig};
use feedwire::ops::{Metrics, cpu_time, peak_rss_bytes, rss_bytes};
use feedwire::publish::{AmqpSink, Sink};
use feedwire::shutdown::Shutdown;

const PORT: u16 = 18091;

struct Args {
    feeds: usize,
    files: usize,
    interval: String,
    seconds: u64,
    concurrency: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        feeds: 100_000,
        files: 1000,
        interval: "10s".into(),
        seconds: 60,
        concurrency: 64,
    };
    let mut it = std::env::args().skip(1);
    let number = |v: Option<String>, flag: &str| -> usize {
        v.and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{flag} N"))
    };
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--feeds" => args.feeds = number(it.next(), "--feeds"),
            "--files" => args.files = number(it.next(), "--files"),
            "--seconds" => args.seconds = number(it.next(), "--seconds") as u64,
            "--concurrency" => args.concurrency = number(it.next(), "--concurrency"),
            "--interval" => args.interval = it.next().expect("--interval DURATION"),
            _ => {} // cargo bench passes --bench
        }
    }
    args
}

/// nginx serving `dir` on loopback until dropped.
struct Nginx {
    conf: String,
}

impl Nginx {
    fn start(dir: &Path) -> Nginx {
        let conf = dir.join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "daemon on; worker_processes 1; pid {dir}/nginx.pid; error_log {dir}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off; keepalive_requests 1000000; keepalive_timeout 60s;
  client_body_temp_path {dir}/tmp; proxy_temp_path {dir}/tmp; fastcgi_temp_path {dir}/tmp;
  uwsgi_temp_path {dir}/tmp; scgi_temp_path {dir}/tmp;
  types {{ application/rss+xml xml; }}
  server {{ listen 127.0.0.1:{PORT}; root {dir}/www; }}
}}
",
                dir = dir.display()
            ),
        )
        .unwrap();
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let conf = conf.to_string_lossy().into_owned();
        let status = Command::new("nginx")
            .args(["-c", &conf])
            .stderr(Stdio::inherit())
            .status()
            .expect("this benchmark needs nginx (apt-get install nginx-light)");
        assert!(status.success(), "nginx failed to start");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", PORT)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx { conf }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("nginx")
            .args(["-c", &self.conf, "-s", "stop"])
            .status();
    }
}

/// A small real-looking feed: three dated items.
fn write_feeds(www: &Path, files: usize) {
    std::fs::create_dir_all(www.join("f")).unwrap();
    for n in 0..files {
        let items: String = (0..3)
            .map(|i| {
                format!(
                    "<item><title>Story {n}-{i}</title><link>http://127.0.0.1:{PORT}/s/{n}/{i}</link>\
                     <guid>s-{n}-{i}</guid><pubDate>Sat, 28 Nov 2026 0{i}:00:00 GMT</pubDate>\
                     <description>Summary of story {i} of feed file {n}.</description></item>"
                )
            })
            .collect();
        std::fs::write(
            www.join(format!("f/{n}.xml")),
            format!(
                "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Feed {n}</title>\
                 <link>http://127.0.0.1:{PORT}/</link>{items}</channel></rss>"
            ),
        )
        .unwrap();
    }
}

fn config(args: &Args, store: &Path) -> String {
    let tag = format!("feedwire.bench.polling.{}", std::process::id());
    let mut text = config_head(&tag, store, "127.0.0.1", args.concurrency);
    text.push_str(
        "[fetch]\nallow_private_networks = true\nrespect_robots_txt = false\n\
         [pipeline]\nfetch_full_text = false\n[ops]\nper_feed_metrics = false\n",
    );
    text
}

/// The feed list, added to the store as `feeds add` / `import-opml` do: a
/// large list needs no config file.
fn feed_list(args: &Args) -> Vec<FeedConfig> {
    let interval = humantime::parse_duration(&args.interval).expect("--interval is a duration");
    (0..args.feeds)
        .map(|i| FeedConfig {
            interval: Some(interval),
            ..FeedConfig::new(
                &format!("f{i}"),
                &format!("http://127.0.0.1:{PORT}/f/{}.xml?feed={i}", i % args.files),
            )
        })
        .collect()
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

fn main() {
    let args = parse_args();
    let dir = tempfile::tempdir().unwrap();
    write_feeds(&dir.path().join("www"), args.files);
    let _nginx = Nginx::start(dir.path());
    let rss_at_start = rss_bytes().unwrap_or(0);
    let config = Config::from_toml(&config(&args, &dir.path().join("bench.db")), None)
        .expect("bench config is valid");
    let config = Arc::new(config);
    println!(
        "polling bench: {} feeds ({} files on nginx), interval {}, poll concurrency {}",
        args.feeds, args.files, args.interval, args.concurrency
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let signals = Shutdown::default();
        let store = app::open_store(&config.store).await.unwrap();
        let t = Instant::now();
        let added = store.add_feeds(&feed_list(&args)).await.unwrap().len();
        println!(
            "  {added} feeds added to the store in {:.2} s; RSS {:.1} MB (peak {:.1} MB so far)",
            t.elapsed().as_secs_f64(),
            mb(rss_bytes().unwrap_or(0)),
            mb(peak_rss_bytes().unwrap_or(0))
        );
        let metrics = Arc::new(Metrics::new(false));
        // Round 1 publishes the files' 3,000 distinct stories (each seen in
        // 100 feeds) to a throw-away exchange and queue.
        let sink = AmqpSink::connect(config.broker.clone(), &signals.shutdown)
            .await
            .expect("RabbitMQ answers on 127.0.0.1:5672");
        let sink = Arc::new(Sink::Amqp(sink));
        let worker = Worker::assemble(
            Arc::clone(&config),
            store,
            Arc::clone(&sink),
            Arc::clone(&metrics),
            &signals,
        )
        .await
        .unwrap();
        let pipeline = &worker.pipeline;
        let polls = |outcome| metrics.count(&metrics.polls, outcome);

        let (cpu0, t0) = (cpu_time().unwrap_or_default(), Instant::now());
        pipeline.run_once().await;
        let (first_wall, first_cpu) = (t0.elapsed(), cpu_time().unwrap_or_default() - cpu0);
        let first = polls("ok");
        let rss_after_first = rss_bytes().unwrap_or(0);

        let before = (polls("not_modified"), polls("ok"), polls("error"));
        let (cpu1, t1) = (cpu_time().unwrap_or_default(), Instant::now());
        let worker = tokio::spawn({
            let pipeline = Arc::clone(pipeline);
            async move { pipeline.run_forever().await }
        });
        // RSS every tenth of the run: it must level off, not grow with the
        // number of polls done.
        let mut rss_samples = Vec::new();
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_secs(args.seconds) / 10).await;
            rss_samples.push(format!("{:.0}", mb(rss_bytes().unwrap_or(0))));
        }
        let conditional = polls("not_modified") - before.0;
        let (wall, cpu) = (t1.elapsed(), cpu_time().unwrap_or_default() - cpu1);
        signals.shutdown.cancel();
        let _ = worker.await;
        sink.close().await;
        delete_topology(&config.broker.exchange).await;

        println!(
            "  round 1 (unconditional, parse + record 3 items): {first} polls in {:.1} s = {:.0} polls/s, {:.2} CPU s per 1,000 polls",
            first_wall.as_secs_f64(),
            first as f64 / first_wall.as_secs_f64(),
            first_cpu.as_secs_f64() * 1000.0 / first.max(1) as f64
        );
        println!(
            "  round 2 (scheduler, conditional): {conditional} polls answered 304 in {:.1} s = {:.0} polls/s; 200s {} errors {}",
            wall.as_secs_f64(),
            conditional as f64 / wall.as_secs_f64(),
            polls("ok") - before.1,
            polls("error") - before.2
        );
        println!(
            "  CPU: {:.2} s per 1,000 conditional polls ({:.0}% of one core)",
            cpu.as_secs_f64() * 1000.0 / conditional.max(1) as f64,
            100.0 * cpu.as_secs_f64() / wall.as_secs_f64()
        );
        println!("  RSS during round 2, MB: {}", rss_samples.join(" "));
        let peak = peak_rss_bytes().unwrap_or(0);
        println!(
            "  peak RSS: {:.1} MB ({:.2} KB per feed); RSS {:.1} MB before the config, {:.1} MB after round 1, {:.1} MB at the end",
            mb(peak),
            peak as f64 / 1024.0 / args.feeds as f64,
            mb(rss_at_start),
            mb(rss_after_first),
            mb(rss_bytes().unwrap_or(0))
        );
    });
}
