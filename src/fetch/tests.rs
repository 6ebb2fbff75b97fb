//! Tests of the fetcher: error kinds, and the SSRF guard's refusals as they
//! come out of reqwest.

use http_body_util::Full;
use hyper::body::Bytes;

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

/// A loopback server that answers every request with `answer`; its
/// address and the count of connections it accepted.
async fn serve<F, Fut>(answer: F) -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicUsize>)
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = hyper::http::Result<hyper::Response<Full<Bytes>>>>
        + Send
        + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let answer = answer.clone();
            let service = hyper::service::service_fn(move |_| answer());
            let io = hyper_util::rt::TokioIo::new(stream);
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(io, service));
        }
    });
    (addr, connections)
}

/// A loopback server that redirects every request to `location`.
async fn redirecting_to(location: &'static str) -> std::net::SocketAddr {
    let (addr, _) = serve(move || async move {
        hyper::Response::builder()
            .status(302)
            .header("location", location)
            .body(Full::new(Bytes::new()))
    })
    .await;
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

/// A loopback server answering every request with `status` and `headers`;
/// its URL and the count of requests it answered.
async fn answering(
    status: u16,
    headers: &'static [(&'static str, &'static str)],
) -> (Url, Arc<std::sync::atomic::AtomicUsize>) {
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let (addr, _) = serve(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move {
            let mut response = hyper::Response::builder().status(status);
            for (k, v) in headers {
                response = response.header(*k, *v);
            }
            response.body(Full::new(Bytes::from(
                "<html><title>Just a moment...</title></html>",
            )))
        }
    })
    .await;
    (Url::parse(&format!("http://{addr}/story")).unwrap(), hits)
}

fn blocking_fetcher(blocked_pause: Duration) -> Fetcher {
    Fetcher::new(&FetchConfig {
        allow_private_networks: true,
        respect_robots_txt: false,
        per_host_interval: Duration::ZERO,
        blocked_pause,
        ..FetchConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn a_challenge_is_named_and_blocks_the_host() {
    let fetcher = blocking_fetcher(Duration::from_secs(900));
    let (url, hits) = answering(403, &[("cf-mitigated", "challenge")]).await;
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
    assert_eq!(
        error.to_string(),
        "blocked by the site: cloudflare_challenge"
    );
    // The host's other pages, and its feeds, are not asked for meanwhile.
    let other = url.join("/other-story").unwrap();
    let error = fetcher.fetch_page(&other).await.unwrap_err();
    assert!(matches!(
        error,
        FetchError::Interstitial(BlockKind::CloudflareChallenge)
    ));
    let feed = url.join("/feed.xml").unwrap();
    let error = fetcher
        .fetch_feed(&feed, &Validators::default())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "interstitial");
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_block_ends_when_the_site_says_or_is_found_in_the_page() {
    // A Retry-After on the challenge says how long: here no time at all.
    let fetcher = blocking_fetcher(Duration::from_secs(900));
    let (url, hits) = answering(
        405,
        &[("x-amzn-waf-action", "captcha"), ("retry-after", "0")],
    )
    .await;
    for _ in 0..2 {
        let error = fetcher.fetch_page(&url).await.unwrap_err();
        assert!(matches!(
            error,
            FetchError::Interstitial(BlockKind::AwsWafChallenge)
        ));
    }
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 2);
    // A wall the extractor found in a page blocks its host too.
    let fetcher = blocking_fetcher(Duration::from_secs(900));
    let (url, hits) = answering(200, &[]).await;
    fetcher.back_off(&url, BlockKind::ConsentWall);
    let error = fetcher.fetch_page(&url).await.unwrap_err();
    assert!(matches!(
        error,
        FetchError::Interstitial(BlockKind::ConsentWall)
    ));
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_protected_sites_ordinary_page_is_not_blocked() {
    let (url, _) = answering(200, &[("x-datadome", "protected")]).await;
    let page = fetcher(true, &[]).fetch_page(&url).await.unwrap();
    assert!(!page.body.is_empty());
}

/// A loopback server answering every request with a 304 after `delay`;
/// its URL and the count of connections it accepted.
async fn not_modified_after(delay: Duration) -> (Url, Arc<std::sync::atomic::AtomicUsize>) {
    let (addr, connections) = serve(move || async move {
        tokio::time::sleep(delay).await;
        hyper::Response::builder()
            .status(304)
            .header("etag", "\"v1\"")
            .body(Full::new(Bytes::new()))
    })
    .await;
    (
        Url::parse(&format!("http://{addr}/feed.xml")).unwrap(),
        connections,
    )
}

#[tokio::test]
async fn a_host_allowed_many_requests_keeps_as_many_connections_open() {
    let (url, connections) = not_modified_after(Duration::from_millis(30)).await;
    let mut hosts = std::collections::BTreeMap::new();
    hosts.insert(
        "127.0.0.1".to_string(),
        crate::config::HostLimits {
            concurrency: Some(8),
            interval: Some(Duration::ZERO),
        },
    );
    let fetcher = Fetcher::new(&FetchConfig {
        allow_private_networks: true,
        respect_robots_txt: false,
        hosts,
        ..FetchConfig::default()
    })
    .unwrap();
    let validators = Validators {
        etag: Some("\"v1\"".into()),
        last_modified: None,
    };
    for _ in 0..3 {
        let polls = (0..8).map(|_| fetcher.fetch_feed(&url, &validators));
        for answer in futures_util::future::join_all(polls).await {
            assert!(matches!(answer, Ok(FeedResponse::NotModified { .. })));
        }
    }
    // Eight at once, three times: the second and third rounds reuse the
    // first round's connections (the default limit of 2 would keep only two).
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 8);
}
