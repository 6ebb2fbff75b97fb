//! The operations endpoint of a running worker: health before the broker is
//! reached, readiness once connected, and metrics that agree with what the
//! broker received.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{Capture, STORIES, farm, feeds, free_port, http_get, metric, stop, write_config};
use tokio::process::{Child, Command};

fn spawn_worker(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_feedwire"))
        .args(["run", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("feedwire starts")
}

/// Polls `path` until it answers `status` (the worker is starting up).
async fn wait_for(addr: &str, path: &str, status: u16) -> String {
    for _ in 0..300 {
        if let Some((got, body)) = http_get(addr, path).await
            && got == status
        {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} never answered {status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_answers_before_the_broker_and_readyz_waits_for_it() {
    let server = farm().await;
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let config = write_config(
        dir.path(),
        "unused",
        &feeds(&server),
        &format!("\n[ops]\nlisten = \"{addr}\"\n"),
    );
    // The broker is "down": nothing listens on port 9.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("127.0.0.1:5672", "127.0.0.1:9");
    std::fs::write(&config, text).unwrap();
    let worker = spawn_worker(&config);
    wait_for(&addr, "/healthz", 200).await;
    let (status, _) = http_get(&addr, "/readyz").await.unwrap();
    assert_eq!(status, 503, "not ready without a broker");
    stop(worker).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ready_worker_exposes_metrics_matching_the_broker() {
    let server = farm().await;
    let capture = Capture::new("ops").await;
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let config = write_config(
        dir.path(),
        &capture.exchange,
        &feeds(&server),
        &format!("\n[ops]\nlisten = \"{addr}\"\n"),
    );
    let worker = spawn_worker(&config);
    wait_for(&addr, "/healthz", 200).await;
    assert_eq!(wait_for(&addr, "/readyz", 200).await, "ready\n");

    // Wait until every story reached the broker.
    let mut received = Vec::new();
    for _ in 0..300 {
        received.extend(capture.drain().await);
        if received.len() >= STORIES.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(received.len(), STORIES.len());

    let text = wait_for(&addr, "/metrics", 200).await;
    let families: std::collections::HashSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE feedwire_"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        families.len() >= 8,
        "only {} feedwire_ families: {families:?}",
        families.len()
    );
    let published = metric(&text, "feedwire_messages_total{outcome=\"published\"}");
    assert_eq!(
        published as usize,
        received.len(),
        "published counter vs broker:\n{text}"
    );
    assert_eq!(metric(&text, "feedwire_broker_connected"), 1.0);
    assert_eq!(
        metric(&text, "feedwire_feeds{state=\"backing_off\"}"),
        1.0,
        "the broken feed backs off"
    );
    assert!(metric(&text, "feedwire_store_size_bytes") > 0.0);
    assert!(metric(&text, "feedwire_polls_total{outcome=\"error\"}") >= 1.0);
    assert!(text.contains("feedwire_feed_polls_total{feed_id=\"world\",outcome=\"ok\"}"));
    stop(worker).await;
    capture.delete().await;
}
