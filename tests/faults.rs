//! Fault injection against the real binary: kill -9 and restart, every
//! broker connection closed by an operator, SIGTERM in the middle of a run.
//! Each asserts that every story the feed server served ends up published,
//! and that duplicates stay within the in-flight bound.
//!
//! The tests run one at a time: closing every broker connection would break
//! a neighbour's run.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Capture, Received, Route, TestServer, drain_queue, write_config};
use tokio::process::{Child, Command};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const FEEDS: usize = 4;
const ITEMS: usize = 10;
/// `pipeline.story_concurrency` in these tests: the most stories that can be
/// confirmed but not yet recorded when the process dies.
const IN_FLIGHT: usize = 4;

/// Feeds that reveal one more item every `step`, with slow article pages so
/// that work is always in flight. Half of each feed's items also appear in
/// the next feed.
struct GrowingFarm {
    server: TestServer,
    revealed: Arc<AtomicUsize>,
}

fn story_path(n: usize) -> String {
    format!("/stories/{n:03}")
}

fn page(n: usize) -> String {
    format!(
        "<html lang=\"en\"><head><title>Story {n}</title></head><body><nav>Home News Sport</nav>\
         <article><h1>Story number {n}</h1>\
         <p>This is the first paragraph of story {n}, which reports something that happened today in some detail.</p>\
         <p>The second paragraph of story {n} adds the background a reader needs, with a quote from somebody involved.</p>\
         <p>The third paragraph of story {n} says what happens next, and when the next update is expected.</p>\
         </article><footer>Copyright</footer></body></html>"
    )
}

fn feed_items(feed: usize, visible: usize) -> Vec<usize> {
    let mut stories = Vec::new();
    for i in 0..visible.min(ITEMS) {
        stories.push(feed * ITEMS + i);
        if i % 2 == 0 {
            stories.push(((feed + 1) % FEEDS) * ITEMS + i);
        }
    }
    stories
}

fn feed_xml(base: &str, feed: usize, visible: usize) -> String {
    let items: String = feed_items(feed, visible)
        .into_iter()
        .map(|n| {
            format!(
                "<item><title>Story number {n}</title><link>{base}{path}?at_medium=RSS&amp;at_campaign=rss</link>\
                 <guid isPermaLink=\"false\">{base}{path}#{feed}</guid><description>Summary of story {n}.</description></item>",
                path = story_path(n)
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Feed {feed}</title><link>{base}/</link>{items}</channel></rss>"
    )
}

impl GrowingFarm {
    async fn start(first_visible: usize) -> GrowingFarm {
        let server = TestServer::start().await;
        for n in 0..FEEDS * ITEMS {
            server.route(
                &story_path(n),
                Route::ok("text/html; charset=utf-8", page(n)).delayed(Duration::from_millis(150)),
            );
        }
        let farm = GrowingFarm {
            server,
            revealed: Arc::new(AtomicUsize::new(0)),
        };
        farm.reveal(first_visible);
        farm
    }

    fn reveal(&self, visible: usize) {
        self.revealed.store(visible, Ordering::SeqCst);
        for feed in 0..FEEDS {
            self.server.route(
                &format!("/feeds/{feed}.xml"),
                Route::ok(
                    "application/rss+xml",
                    feed_xml(&self.server.base, feed, visible),
                ),
            );
        }
    }

    /// Reveals one more item per feed every `step` until all are shown.
    fn grow(&self, step: Duration) {
        let revealed = Arc::clone(&self.revealed);
        let farm = GrowingFarm {
            server: self.server.clone(),
            revealed,
        };
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(step).await;
                let next = farm.revealed.load(Ordering::SeqCst) + 1;
                if next > ITEMS {
                    return;
                }
                farm.reveal(next);
            }
        });
    }

    fn feeds(&self) -> Vec<(String, String)> {
        (0..FEEDS)
            .map(|f| (format!("f{f}"), self.server.url(&format!("/feeds/{f}.xml"))))
            .collect()
    }

    fn all_story_urls(&self) -> HashSet<String> {
        (0..FEEDS * ITEMS)
            .map(|n| self.server.url(&story_path(n)))
            .collect()
    }
}

fn config(dir: &Path, capture: &Capture, farm: &GrowingFarm) -> std::path::PathBuf {
    let feeds = farm.feeds();
    let feeds: Vec<(&str, String)> = feeds
        .iter()
        .map(|(id, url)| (id.as_str(), url.clone()))
        .collect();
    let path = write_config(
        dir,
        &capture.exchange,
        &feeds,
        &format!(
            "\n[poll]\ndefault_interval = \"1s\"\n[pipeline]\nstory_concurrency = {IN_FLIGHT}\nshutdown_grace = \"5s\"\n"
        ),
    );
    // write_config gives each feed a 1m interval; these feeds poll every second.
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("interval = \"1m\"", "interval = \"1s\"");
    std::fs::write(&path, text).unwrap();
    path
}

fn spawn_worker(config: &Path, log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_feedwire"))
        .args(["run", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("feedwire starts")
}

/// Collects messages from the durable capture queue until `enough` holds or
/// the time runs out.
async fn collect_until(
    queue: &str,
    seen: &mut Vec<Received>,
    timeout: Duration,
    enough: impl Fn(&[Received]) -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        seen.extend(drain_queue(queue).await);
        if enough(seen) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn story_urls(messages: &[Received]) -> HashSet<String> {
    messages
        .iter()
        .map(|m| m.body["url"].as_str().unwrap().to_string())
        .collect()
}

/// Messages beyond the first for each story.
fn duplicates(messages: &[Received]) -> usize {
    let mut per_story: HashMap<&str, usize> = HashMap::new();
    for m in messages {
        *per_story.entry(m.body["id"].as_str().unwrap()).or_default() += 1;
    }
    per_story.values().map(|n| n - 1).sum()
}

async fn signal(child: &Child, signal: &str) {
    let pid = child.id().expect("worker is running").to_string();
    let status = Command::new("kill")
        .args([signal, &pid])
        .status()
        .await
        .unwrap();
    assert!(status.success());
}

async fn finish_with_run_once(config: &Path) {
    let output = common::feedwire(&["run", "--once", "--config", config.to_str().unwrap()]).await;
    assert!(output.status.success(), "{}", common::stderr(&output));
}

/// One fault drill: a growing farm, a durable capture queue, a config and a
/// running worker, with every message seen so far.
struct Drill {
    farm: GrowingFarm,
    capture: Capture,
    /// Holds the store and logs until the drill is over.
    _dir: tempfile::TempDir,
    config: std::path::PathBuf,
    log: std::path::PathBuf,
    worker: Child,
    seen: Vec<Received>,
}

impl Drill {
    /// Starts the worker and waits until it has published `published` messages.
    async fn start(name: &str, first_visible: usize, published: usize) -> Drill {
        let farm = GrowingFarm::start(first_visible).await;
        let capture = Capture::durable(name).await;
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), &capture, &farm);
        let log = dir.path().join("worker.log");
        farm.grow(Duration::from_millis(300));
        let worker = spawn_worker(&config, &log);
        let mut drill = Drill {
            farm,
            capture,
            _dir: dir,
            config,
            log,
            worker,
            seen: Vec::new(),
        };
        let started = drill
            .collect_until(Duration::from_secs(30), |m| m.len() >= published)
            .await;
        assert!(
            started,
            "the worker published nothing: {}",
            drill.log_text()
        );
        drill
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn collect_until(
        &mut self,
        timeout: Duration,
        enough: impl Fn(&[Received]) -> bool,
    ) -> bool {
        collect_until(&self.capture.queue, &mut self.seen, timeout, enough).await
    }

    /// SIGTERM, and the exit status within the grace period.
    async fn terminate(&mut self) -> std::process::ExitStatus {
        signal(&self.worker, "-TERM").await;
        tokio::time::timeout(Duration::from_secs(15), self.worker.wait())
            .await
            .expect("the worker exits within the grace period")
            .unwrap()
    }

    /// Every item revealed, one `run --once`, then: no story lost, and
    /// duplicates within the in-flight bound.
    async fn finish_and_check(self) {
        self.farm.reveal(ITEMS);
        finish_with_run_once(&self.config).await;
        self.check().await;
    }

    async fn check(mut self) {
        self.seen.extend(drain_queue(&self.capture.queue).await);
        assert_eq!(
            story_urls(&self.seen),
            self.farm.all_story_urls(),
            "a story was lost"
        );
        let dups = duplicates(&self.seen);
        assert!(
            dups <= IN_FLIGHT,
            "{dups} duplicates, more than the in-flight bound"
        );
        self.capture.delete().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_run_then_restart_loses_nothing() {
    let _serial = SERIAL.lock().await;
    let mut drill = Drill::start("kill9", 2, 8).await;
    drill.worker.start_kill().unwrap(); // SIGKILL
    drill.worker.wait().await.unwrap();
    assert!(
        story_urls(&drill.seen).len() < FEEDS * ITEMS,
        "killed too late to test anything"
    );
    drill.finish_and_check().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn closed_broker_connections_are_reopened_and_nothing_is_lost() {
    let _serial = SERIAL.lock().await;
    let mut drill = Drill::start("close", 2, 5).await;
    let closed = Command::new("rabbitmqctl")
        .args(["close_all_connections", "feedwire fault test"])
        .output()
        .await
        .expect("rabbitmqctl runs (RabbitMQ is on this machine)");
    assert!(
        closed.status.success(),
        "{}",
        String::from_utf8_lossy(&closed.stderr)
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        drill.worker.try_wait().unwrap().is_none(),
        "the worker exited when the broker closed its connection"
    );

    // The worker reconnects and publishes the rest on its own.
    let all = drill.farm.all_story_urls();
    let complete = drill
        .collect_until(Duration::from_secs(60), |m| story_urls(m) == all)
        .await;
    assert!(
        complete,
        "not every story was published after reconnecting: {}",
        drill.log_text()
    );
    let status = drill.terminate().await;
    assert!(status.success(), "exit status {status:?}");
    let connects = drill.log_text().matches("connected to broker").count();
    assert!(
        connects >= 2,
        "the worker did not reconnect ({connects} connects)"
    );
    drill.check().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_run_exits_0_and_a_restart_completes_the_set() {
    let _serial = SERIAL.lock().await;
    let mut drill = Drill::start("sigterm", 3, 6).await;
    let status = drill.terminate().await;
    assert_eq!(status.code(), Some(0), "{}", drill.log_text());
    assert!(drill.log_text().contains("feedwire stopped"));
    drill.finish_and_check().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn broker_down_at_start_is_retried_until_sigterm() {
    let _serial = SERIAL.lock().await;
    let farm = GrowingFarm::start(ITEMS).await;
    let capture = Capture::durable("down").await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &capture, &farm);
    // Nothing listens on port 9: the broker is "down".
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("127.0.0.1:5672", "127.0.0.1:9");
    std::fs::write(&config, text).unwrap();
    let log = dir.path().join("worker.log");
    let mut worker = spawn_worker(&config, &log);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        worker.try_wait().unwrap().is_none(),
        "the worker gave up on a broker that is down"
    );
    let retries = std::fs::read_to_string(&log)
        .unwrap()
        .matches("broker not reachable, retrying")
        .count();
    assert!(retries >= 2, "expected repeated retries, saw {retries}");
    signal(&worker, "-TERM").await;
    let status = tokio::time::timeout(Duration::from_secs(10), worker.wait())
        .await
        .expect("the worker stops on SIGTERM while waiting for the broker")
        .unwrap();
    assert_eq!(status.code(), Some(0));
    capture.delete().await;
}

/// `run --once` interrupted while pages are still being fetched: the stories
/// it leaves behind are counted and the exit code says so (3), so a cron job
/// or an init container knows the run did not finish.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_run_once_exits_3_and_counts_what_it_left() {
    let _serial = SERIAL.lock().await;
    let farm = GrowingFarm::start(ITEMS).await;
    let capture = Capture::new("once-interrupted").await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &capture, &farm);
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("shutdown_grace = \"5s\"", "shutdown_grace = \"1s\"");
    std::fs::write(&config, text).unwrap();
    // Every page now takes a minute: the run cannot finish by itself.
    for n in 0..FEEDS * ITEMS {
        farm.server.route(
            &story_path(n),
            Route::ok("text/html", page(n)).delayed(Duration::from_secs(60)),
        );
    }
    let worker = Command::new(env!("CARGO_BIN_EXE_feedwire"))
        .args(["run", "--once", "--config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while (0..FEEDS * ITEMS).all(|n| farm.server.hits(&story_path(n)) == 0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no page was ever fetched"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    signal(&worker, "-TERM").await;
    let output = tokio::time::timeout(Duration::from_secs(30), worker.wait_with_output())
        .await
        .expect("the run ends after its grace period")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    let unfinished: usize = stderr
        .rsplit("unfinished ")
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no unfinished count in: {stderr}"));
    assert!(unfinished > 0, "{stderr}");
    capture.delete().await;
}
