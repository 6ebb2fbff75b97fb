//! Politeness per service: hosts of one registrable domain (or of one
//! configured group) share one budget, and a 429 or a challenge on one of
//! them pauses all of them. Against an in-process server on loopback, under
//! names of `*.localhost` (the loopback, resolved without DNS).

mod common;

use std::time::{Duration, Instant};

use common::{RSS, Route, TestServer, feedwire, stderr};
use feedwire::config::FetchConfig;
use feedwire::fetch::{BlockKind, FetchError, Fetcher, Validators};
use url::Url;

const FEED: &str = r#"<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<item><title>one</title><link>https://example.org/one</link></item></channel></rss>"#;

fn fetcher(extra: &str) -> Fetcher {
    let text = format!(
        "allow_private_networks = true\nrespect_robots_txt = false\nper_host_interval = \"0s\"\n{extra}"
    );
    let config: FetchConfig = toml::from_str(&text).unwrap();
    Fetcher::new(&config).unwrap()
}

/// `http://{host}:{port}{path}` on the test server.
fn at(server: &TestServer, host: &str, path: &str) -> Url {
    let port = Url::parse(&server.base).unwrap().port().unwrap();
    Url::parse(&format!("http://{host}:{port}{path}")).unwrap()
}

fn hosts_without_port(server: &TestServer) -> Vec<String> {
    server
        .hosts_seen()
        .iter()
        .map(|h| {
            h.rsplit_once(':')
                .map_or(h.as_str(), |(h, _)| h)
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn a_429_on_one_host_pauses_the_other_hosts_of_its_domain() {
    let server = TestServer::start().await;
    let mut limited = Route::status(429);
    limited.headers.push(("Retry-After".into(), "5".into()));
    server.route("/a/feed.xml", limited);
    server.route("/b/feed.xml", Route::ok(RSS, FEED));
    server.route("/c/feed.xml", Route::ok(RSS, FEED));
    let fetcher = fetcher("");
    let none = Validators::default();

    let before = Instant::now();
    let error = fetcher
        .fetch_feed(&at(&server, "a.farm.localhost", "/a/feed.xml"), &none)
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::Status { status: 429, .. }),
        "{error}"
    );
    // Another host of farm.localhost waits for the pause...
    let paused = {
        let fetcher = fetcher.clone();
        let url = at(&server, "b.farm.localhost", "/b/feed.xml");
        tokio::spawn(async move { fetcher.fetch_feed(&url, &Validators::default()).await })
    };
    // ...while another domain is served meanwhile, and b is not asked yet.
    fetcher
        .fetch_feed(&at(&server, "c.elsewhere.localhost", "/c/feed.xml"), &none)
        .await
        .unwrap();
    assert_eq!(server.hits("/c/feed.xml"), 1);
    assert_eq!(server.hits("/b/feed.xml"), 0);
    paused.await.unwrap().unwrap();
    assert!(before.elapsed() >= Duration::from_secs(5));
    assert_eq!(server.hits("/b/feed.xml"), 1);
    assert_eq!(
        hosts_without_port(&server),
        [
            "a.farm.localhost",
            "c.elsewhere.localhost",
            "b.farm.localhost"
        ]
    );
}

#[tokio::test]
async fn a_challenge_on_one_host_blocks_its_group_unrequested() {
    let server = TestServer::start().await;
    let mut challenge = Route::status(403);
    challenge
        .headers
        .push(("cf-mitigated".into(), "challenge".into()));
    server.route("/a/page", challenge);
    server.route("/b/page", Route::ok("text/html", "<p>b</p>"));
    server.route("/c/page", Route::ok("text/html", "<p>c</p>"));
    let fetcher = fetcher(
        "blocked_pause = \"10m\"\nhost_groups.farm = [\"a.one.localhost\", \"b.two.localhost\"]",
    );

    let blocked =
        |e: FetchError| matches!(e, FetchError::Interstitial(BlockKind::CloudflareChallenge));
    let a = at(&server, "a.one.localhost", "/a/page");
    assert!(blocked(fetcher.fetch_page(&a).await.unwrap_err()));
    // b.two.localhost is another domain but the same configured group.
    let b = at(&server, "b.two.localhost", "/b/page");
    assert!(blocked(fetcher.fetch_page(&b).await.unwrap_err()));
    assert_eq!(server.hits("/b/page"), 0);
    // A host of a.one.localhost's own domain outside the group is not blocked.
    let c = at(&server, "c.one.localhost", "/c/page");
    assert_eq!(fetcher.fetch_page(&c).await.unwrap().body, b"<p>c</p>");
}

#[tokio::test]
async fn one_request_in_flight_across_the_hosts_of_a_group() {
    let server = TestServer::start().await;
    for path in ["/a/feed.xml", "/b/feed.xml", "/c/feed.xml"] {
        server.route(
            path,
            Route::ok(RSS, FEED).delayed(Duration::from_millis(300)),
        );
    }
    let fetcher = fetcher("per_host_concurrency = 1");
    let none = Validators::default();
    let urls = [
        at(&server, "a.farm.localhost", "/a/feed.xml"),
        at(&server, "b.farm.localhost", "/b/feed.xml"),
        at(&server, "c.farm.localhost", "/c/feed.xml"),
    ];
    let results =
        futures_util::future::join_all(urls.iter().map(|url| fetcher.fetch_feed(url, &none))).await;
    assert!(results.iter().all(Result::is_ok));
    let mut hosts = hosts_without_port(&server);
    hosts.sort();
    assert_eq!(
        hosts,
        ["a.farm.localhost", "b.farm.localhost", "c.farm.localhost"]
    );
    assert_eq!(server.max_in_flight(), 1);
}

#[tokio::test]
async fn the_user_agent_names_the_contact_and_feeds_check_the_group() {
    let server = TestServer::start().await;
    server.route("/feed.xml", Route::ok(RSS, FEED));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("feedwire.toml");
    std::fs::write(
        &config,
        format!(
            "[broker]\nurl = \"{}\"\n[store]\npath = \"{}\"\n[fetch]\n\
             allow_private_networks = true\n\
             contact_url = \"https://ops.example.org/feedwire\"\n\
             host_groups.wire = [\"feeds.one.localhost\", \"feeds.two.localhost\"]\n",
            common::BROKER_URL,
            dir.path().join("state.db").display(),
        ),
    )
    .unwrap();
    let check = |host: &str| {
        let url = at(&server, host, "/feed.xml").to_string();
        let config = config.to_str().unwrap().to_string();
        async move {
            let output = feedwire(&["feeds", "check", "--config", &config, &url]).await;
            assert!(output.status.success(), "{}", stderr(&output));
            let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
            let summary: serde_json::Value =
                serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
            summary["host_group"].clone()
        }
    };
    assert_eq!(
        check("news.farm.localhost").await,
        serde_json::json!({"name": "farm.localhost", "source": "registrable domain"})
    );
    assert_eq!(
        check("feeds.two.localhost").await,
        serde_json::json!({"name": "wire", "source": "fetch.host_groups"})
    );
    let agents = server.user_agents_seen();
    assert_eq!(agents.len(), 2);
    let expected = concat!(
        "feedwire/",
        env!("CARGO_PKG_VERSION"),
        " (+https://ops.example.org/feedwire)"
    );
    assert!(agents.iter().all(|a| a == expected), "{agents:?}");
}

#[tokio::test]
async fn a_429_without_retry_after_pauses_the_group_for_the_rate_limit_pause() {
    let server = TestServer::start().await;
    server.route("/a/feed.xml", Route::status(429));
    server.route("/b/feed.xml", Route::ok(RSS, FEED));
    let fetcher = fetcher("rate_limit_pause = \"3s\"");
    let none = Validators::default();
    let before = Instant::now();
    let error = fetcher
        .fetch_feed(&at(&server, "a.farm.localhost", "/a/feed.xml"), &none)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            FetchError::Status {
                status: 429,
                retry_after: None
            }
        ),
        "{error}"
    );
    fetcher
        .fetch_feed(&at(&server, "b.farm.localhost", "/b/feed.xml"), &none)
        .await
        .unwrap();
    assert!(before.elapsed() >= Duration::from_secs(3));
    assert_eq!(server.hits("/b/feed.xml"), 1);
}
