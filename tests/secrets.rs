//! No output shows the broker password: not `check-config`, not the logs of
//! a worker retrying a broker it cannot reach (both URL shapes, from the
//! config file and from `FEEDWIRE_BROKER_URL`, at the default log level and
//! at `trace`), and lapin does not log the bodies of returned messages.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{Capture, farm, feeds, free_port, write_config};
use tokio::io::AsyncReadExt;
use tokio::process::Command;

const PASSWORD: &str = "S3cretPw";

/// The two shapes: a proper URL, and one without `//` (which parses as a
/// URL with no host, and which validation used to let through).
fn broker_urls(port: u16) -> [String; 2] {
    [
        format!("amqp://feeder:{PASSWORD}@127.0.0.1:{port}/%2f"),
        format!("amqp:feeder:{PASSWORD}@127.0.0.1:{port}"),
    ]
}

fn command(config: &Path, args: &[&str], env_url: Option<&str>, rust_log: Option<&str>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_feedwire"));
    command
        .args(args)
        .args(["--config", config.to_str().unwrap()])
        .env_remove("FEEDWIRE_BROKER_URL")
        .env_remove("FEEDWIRE_CONFIG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(url) = env_url {
        command.env("FEEDWIRE_BROKER_URL", url);
    }
    if let Some(filter) = rust_log {
        command.env("RUST_LOG", filter);
    }
    command
}

/// Runs the worker until it has logged `retries` broker retries or exited,
/// and returns everything it printed and whether it exited with 2.
async fn run_until_retries(mut command: Command, retries: usize) -> (String, Option<i32>) {
    let mut child = command.spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut text = Vec::new();
    let mut chunk = [0u8; 65536];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let read = tokio::time::timeout_at(deadline, stderr.read(&mut chunk)).await;
        match read {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(n)) => text.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) => panic!("reading the worker's stderr: {e}"),
        }
        let so_far = String::from_utf8_lossy(&text);
        if so_far.matches("broker not reachable, retrying").count() >= retries {
            break;
        }
    }
    let _ = child.start_kill();
    let status = child.wait().await.unwrap();
    stderr.read_to_end(&mut text).await.unwrap();
    stdout.read_to_end(&mut text).await.unwrap();
    (String::from_utf8_lossy(&text).into_owned(), status.code())
}

#[tokio::test(flavor = "multi_thread")]
async fn no_output_shows_the_broker_password() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens there: the worker keeps retrying.
    let port = free_port();
    for (shape, url) in broker_urls(port).iter().enumerate() {
        let in_file = write_config(dir.path(), "secrets", &[], "");
        let text = std::fs::read_to_string(&in_file)
            .unwrap()
            .replace("amqp://guest:guest@127.0.0.1:5672/%2f", url);
        std::fs::write(&in_file, &text).unwrap();
        std::fs::create_dir_all(dir.path().join("env")).unwrap();
        let default_file = write_config(&dir.path().join("env"), "secrets", &[], "");
        for (config, env_url) in [(&in_file, None), (&default_file, Some(url.as_str()))] {
            let source = if env_url.is_some() { "env" } else { "file" };
            let output = command(config, &["check-config"], env_url, None)
                .output()
                .await
                .unwrap();
            let shown = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(
                !shown.contains(PASSWORD),
                "check-config, {url} ({source}):\n{shown}"
            );
            if shape == 0 {
                assert!(output.status.success(), "{shown}");
                assert!(shown.contains("feeder:***@127.0.0.1"), "{shown}");
            } else {
                assert_eq!(output.status.code(), Some(2), "{url}: {shown}");
                assert!(shown.contains("broker.url"), "{shown}");
            }
            for rust_log in [None, Some("trace")] {
                let (logs, code) =
                    run_until_retries(command(config, &["run"], env_url, rust_log), 2).await;
                assert!(
                    !logs.contains(PASSWORD),
                    "run, {url} ({source}, RUST_LOG={rust_log:?}):\n{}",
                    logs.lines()
                        .filter(|l| l.contains(PASSWORD))
                        .take(5)
                        .collect::<Vec<_>>()
                        .join("\n")
                );
                if shape == 0 {
                    assert!(
                        logs.matches("broker not reachable, retrying").count() >= 2,
                        "{logs}"
                    );
                } else {
                    assert_eq!(code, Some(2), "{url}: {logs}");
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn returned_messages_are_not_logged_with_their_bodies() {
    let server = farm().await;
    // The exchange exists, but no queue is bound: every message comes back.
    let capture = Capture::with_binding("returned-bodies", None).await;
    for rust_log in [None, Some("debug")] {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), &capture.exchange, &feeds(&server), "");
        let output = tokio::time::timeout(
            Duration::from_secs(120),
            command(&config, &["run", "--once"], None, rust_log).output(),
        )
        .await
        .expect("run --once finishes")
        .unwrap();
        let logs = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "nothing delivered: {logs}");
        assert!(
            !logs.contains("Server returned us a message")
                && !logs.contains("feedwire.article.v1")
                && !logs.contains("data: ["),
            "RUST_LOG={rust_log:?}: {}",
            logs.lines()
                .filter(|l| l.contains("returned"))
                .take(3)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    capture.delete().await;
}
