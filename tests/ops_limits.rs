//! The ops endpoint stays up under idle connections and out-of-descriptor
//! conditions: 80 idle half-open requests against a worker limited to 64
//! descriptors made `accept` fail in a tight loop and `/healthz` stop
//! answering.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{free_port, http_get, write_config};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// `/healthz`'s status, or `None` when no answer came within two seconds.
async fn healthz(addr: &str) -> Option<u16> {
    tokio::time::timeout(Duration::from_secs(2), http_get(addr, "/healthz"))
        .await
        .ok()
        .flatten()
        .map(|(status, _)| status)
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_answers_under_idle_connections_at_the_descriptor_limit() {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let config = write_config(
        dir.path(),
        "unused",
        &[],
        &format!("\n[ops]\nlisten = \"{addr}\"\n"),
    );
    // No broker (nothing listens on port 9): the worker keeps retrying it,
    // and /healthz answers meanwhile.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("127.0.0.1:5672", "127.0.0.1:9");
    std::fs::write(&config, text).unwrap();
    let mut worker = Command::new("sh")
        .args(["-c", "ulimit -n 64 && exec \"$@\"", "sh"])
        .arg(env!("CARGO_BIN_EXE_feedwire"))
        .args(["run", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("feedwire starts");
    let mut up = false;
    for _ in 0..100 {
        if healthz(&addr).await == Some(200) {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "/healthz never answered");

    let mut idle = Vec::new();
    for _ in 0..80 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\n")
            .await
            .unwrap();
        idle.push(stream);
    }
    // Each probe gets two seconds; ten in a row must all answer.
    for attempt in 0..10 {
        assert_eq!(
            healthz(&addr).await,
            Some(200),
            "/healthz unanswered (attempt {attempt}) with 80 idle connections open"
        );
    }
    assert!(
        worker.try_wait().unwrap().is_none(),
        "the worker is still running"
    );
    worker.kill().await.unwrap();
}
