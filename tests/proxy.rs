//! Proxy variables in the environment give no way past the SSRF guard:
//! reqwest would send every request to the proxy named in `HTTP_PROXY`,
//! `HTTPS_PROXY` or `ALL_PROXY`, and the proxy, not the guarded resolver,
//! would resolve and reach the target.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A loopback listener that counts connections and answers each with a
/// feed, as a proxy (or the target) would.
async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let mut head = [0u8; 4096];
            let _ = socket.read(&mut head).await;
            let body = "<rss version=\"2.0\"><channel><title>reached</title></channel></rss>";
            let _ = socket
                .write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await;
        }
    });
    (port, connections)
}

/// This machine's own name: not `localhost` (which the guard refuses by
/// name), but resolving to a loopback or private address, as a name in a
/// hostile feed could.
async fn private_host_name() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("host name")
        .trim()
        .to_string();
    let addresses: Vec<_> = tokio::net::lookup_host((name.as_str(), 0))
        .await
        .unwrap_or_else(|e| panic!("host name `{name}` does not resolve: {e}"))
        .collect();
    assert!(
        !addresses.is_empty()
            && addresses
                .iter()
                .all(|a| !feedwire::fetch::guard::is_public(a.ip())),
        "host name `{name}` must resolve to private addresses for this test: {addresses:?}"
    );
    name
}

#[tokio::test]
async fn proxy_variables_give_no_way_past_the_guard() {
    let (proxy_port, proxy_connections) = counting_listener().await;
    let (target_port, target_connections) = counting_listener().await;
    let host = private_host_name().await;
    let proxy = format!("http://127.0.0.1:{proxy_port}");
    for scheme in ["http", "https"] {
        let target = format!("{scheme}://{host}:{target_port}/feed.xml");
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_feedwire"))
            .args(["feeds", "check", "--config", "/nonexistent.toml", &target])
            .env_remove("FEEDWIRE_CONFIG")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .envs(
                [
                    "HTTP_PROXY",
                    "HTTPS_PROXY",
                    "ALL_PROXY",
                    "http_proxy",
                    "https_proxy",
                    "all_proxy",
                ]
                .map(|k| (k, proxy.as_str())),
            )
            .kill_on_drop(true)
            .output()
            .await
            .unwrap();
        let stderr = common::stderr(&output);
        assert!(!output.status.success(), "{target} was fetched: {stderr}");
        assert!(stderr.contains("blocked"), "{target}: {stderr}");
        assert_eq!(
            proxy_connections.load(Ordering::SeqCst),
            0,
            "{target} went to the proxy"
        );
        assert_eq!(target_connections.load(Ordering::SeqCst), 0, "{target}");
    }
}
