//! Tests of the fetcher: error kinds, and the SSRF guard's refusals as they
//! come out of reqwest.

use super::*;

#[test]
fn transient_errors() {
    let status = |s| FetchError::Status {
        status: s,
        retry_after: None,
    };
    assert!(status(503).is_transient());
    assert!(status(429).is_transient());
    assert!(!status(404).is_transient());
    assert!(!FetchError::TooLarge { limit: 1 }.is_transient());
    assert!(FetchError::Timeout.is_transient());
}

/// A loopback server that redirects every request to `location`.
async fn redirecting_to(location: &'static str) -> std::net::SocketAddr {
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service_fn(move |_| async move {
                hyper::Response::builder()
                    .status(302)
                    .header("location", location)
                    .body(http_body_util::Empty::<hyper::body::Bytes>::new())
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(io, service));
        }
    });
    addr
}

fn fetcher(allow_private: bool, networks: &[&str]) -> Fetcher {
    Fetcher::new(&FetchConfig {
        allow_private_networks: allow_private,
        private_networks: networks.iter().map(|n| n.parse().unwrap()).collect(),
        respect_robots_txt: false,
        ..FetchConfig::default()
    })
    .unwrap()
}

fn refusal(error: &FetchError) -> &str {
    match error {
        FetchError::Blocked(reason) => reason,
        other => panic!("not blocked: {other:?}"),
    }
}

#[tokio::test]
async fn a_redirect_to_a_private_address_is_blocked() {
    // Loopback is allowed, the redirect's 10.x target is not.
    let server = redirecting_to("http://10.1.2.3/feed.xml").await;
    let fetcher = fetcher(true, &["127.0.0.0/8"]);
    let url = Url::parse(&format!("http://{server}/a")).unwrap();
    // Pages: the client's redirect policy refuses, inside reqwest's error.
    let error = fetcher.fetch_page(&url).await.unwrap_err();
    assert_eq!(error.kind(), "blocked");
    assert_eq!(
        refusal(&error),
        "redirect target address 10.1.2.3 is not public"
    );
    // Feeds follow redirects themselves and check each hop.
    let error = fetcher
        .fetch_feed(&url, &Validators::default())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "blocked");
    assert_eq!(refusal(&error), "address 10.1.2.3 is not public");
}

#[tokio::test]
async fn a_name_resolving_to_a_private_address_is_blocked() {
    // This machine's own name: not `localhost` (refused by name before
    // any lookup), but resolving to loopback or private addresses.
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let name = name.trim();
    let resolved: Vec<_> = tokio::net::lookup_host((name, 0)).await.unwrap().collect();
    assert!(
        !resolved.is_empty() && resolved.iter().all(|a| !guard::is_public(a.ip())),
        "host name `{name}` must resolve to private addresses for this test: {resolved:?}"
    );
    let url = Url::parse(&format!("http://{name}:9/feed.xml")).unwrap();
    let error = fetcher(false, &[]).fetch_page(&url).await.unwrap_err();
    assert_eq!(error.kind(), "blocked");
    assert!(
        refusal(&error).starts_with(&format!("`{name}` resolves to ")),
        "{error}"
    );
}

/// A loopback server answering every request with `status` and `headers`.
async fn answering(status: u16, headers: &'static [(&'static str, &'static str)]) -> Url {
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service_fn(move |_| async move {
                let mut response = hyper::Response::builder().status(status);
                for (k, v) in headers {
                    response = response.header(*k, *v);
                }
                response.body(http_body_util::Full::new(hyper::body::Bytes::from(
                    "<html><title>Just a moment...</title></html>",
                )))
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(io, service));
        }
    });
    Url::parse(&format!("http://{addr}/story")).unwrap()
}

#[tokio::test]
async fn a_challenge_is_named_and_pauses_the_host() {
    let fetcher = Fetcher::new(&FetchConfig {
        allow_private_networks: true,
        respect_robots_txt: false,
        per_host_interval: Duration::ZERO,
        blocked_pause: Duration::from_secs(900),
        ..FetchConfig::default()
    })
    .unwrap();
    let url = answering(403, &[("cf-mitigated", "challenge")]).await;
    let error = fetcher.fetch_page(&url).await.unwrap_err();
    assert!(
        matches!(
            error,
            FetchError::Interstitial(BlockKind::CloudflareChallenge)
        ),
        "{error:?}"
    );
    assert!(!error.is_transient());
    assert_eq!(error.kind(), "interstitial");
    let left = fetcher.hosts.wait_left("127.0.0.1");
    assert!(left > Duration::from_secs(800), "paused for {left:?}");

    // A Retry-After on the challenge says how long, and a page found to be
    // a wall by its markup pauses the host too.
    let fetcher = Fetcher::new(&FetchConfig {
        allow_private_networks: true,
        respect_robots_txt: false,
        per_host_interval: Duration::ZERO,
        blocked_pause: Duration::from_secs(900),
        ..FetchConfig::default()
    })
    .unwrap();
    let url = answering(
        405,
        &[("x-amzn-waf-action", "captcha"), ("retry-after", "30")],
    )
    .await;
    let error = fetcher.fetch_page(&url).await.unwrap_err();
    assert!(matches!(
        error,
        FetchError::Interstitial(BlockKind::AwsWafChallenge)
    ));
    let left = fetcher.hosts.wait_left("127.0.0.1");
    assert!(
        left <= Duration::from_secs(30) && left > Duration::ZERO,
        "{left:?}"
    );
    let elsewhere = Url::parse("http://wall.example/a").unwrap();
    assert_eq!(fetcher.hosts.wait_left("wall.example"), Duration::ZERO);
    fetcher.back_off(&elsewhere);
    assert!(fetcher.hosts.wait_left("wall.example") > Duration::from_secs(800));
}

#[tokio::test]
async fn a_protected_sites_ordinary_page_is_not_blocked() {
    let url = answering(200, &[("x-datadome", "protected")]).await;
    let page = fetcher(true, &[]).fetch_page(&url).await.unwrap();
    assert!(!page.body.is_empty());
}
