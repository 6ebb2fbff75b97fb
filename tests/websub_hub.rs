//! Asking a WebSub hub to subscribe: the form a test hub on loopback
//! receives, its refusal, and the SSRF guard in front of it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use feedwire::config::FetchConfig;
use feedwire::fetch::{FetchError, Fetcher};
use feedwire::push::hub::ask_hub;
use feedwire::push::subscription::{Mode, Subscription};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use url::Url;

/// One request as the hub saw it.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    content_type: String,
    form: Vec<(String, String)>,
}

/// A hub on loopback that answers every request with `status` and keeps
/// what it was sent.
async fn test_hub(status: u16) -> (u16, Arc<Mutex<Vec<Received>>>) {
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let keep = Arc::clone(&keep);
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let keep = Arc::clone(&keep);
                async move {
                    let method = request.method().to_string();
                    let content_type = request
                        .headers()
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let body = request.into_body().collect().await.unwrap().to_bytes();
                    let form = url::form_urlencoded::parse(&body).into_owned().collect();
                    keep.lock().unwrap().push(Received {
                        method,
                        content_type,
                        form,
                    });
                    hyper::Response::builder()
                        .status(status)
                        .body(Full::new(Bytes::from_static(b"hub says")))
                }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(io, service));
        }
    });
    (port, seen)
}

fn fetcher(allow_private: bool) -> Fetcher {
    let config: FetchConfig =
        toml::from_str(&format!("allow_private_networks = {allow_private}")).unwrap();
    Fetcher::new(&config).unwrap()
}

fn subscription(port: u16) -> Subscription {
    Subscription::new(
        Url::parse(&format!("http://hub.test.localhost:{port}/")).unwrap(),
        Url::parse("https://news.example/feed.xml").unwrap(),
    )
}

#[tokio::test]
async fn the_hub_gets_our_subscription_as_a_form() {
    let (port, seen) = test_hub(202).await;
    let sub = subscription(port);
    let base = Url::parse("https://feedwire.example.com/websub").unwrap();
    let lease = Duration::from_secs(86_400);
    ask_hub(&fetcher(true), &sub, Mode::Subscribe, &base, lease)
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].content_type, "application/x-www-form-urlencoded");
    let mut form = seen[0].form.clone();
    form.sort();
    let callback = format!("https://feedwire.example.com/websub/{}", sub.id);
    let mut expected = vec![
        ("hub.callback".to_string(), callback),
        ("hub.lease_seconds".to_string(), "86400".to_string()),
        ("hub.mode".to_string(), "subscribe".to_string()),
        ("hub.secret".to_string(), sub.secret.clone()),
        (
            "hub.topic".to_string(),
            "https://news.example/feed.xml".to_string(),
        ),
    ];
    expected.sort();
    assert_eq!(form, expected);
}

#[tokio::test]
async fn a_refusing_hub_and_a_guarded_one_are_errors() {
    let (port, seen) = test_hub(400).await;
    let sub = subscription(port);
    let base = Url::parse("https://feedwire.example.com/websub").unwrap();
    let lease = Duration::from_secs(60);
    let error = ask_hub(&fetcher(true), &sub, Mode::Unsubscribe, &base, lease)
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::Status { status: 400, .. }),
        "{error}"
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
    // A hub on loopback is refused unless private networks are allowed.
    let error = ask_hub(&fetcher(false), &sub, Mode::Subscribe, &base, lease)
        .await
        .unwrap_err();
    assert!(matches!(error, FetchError::Blocked(_)), "{error}");
    assert_eq!(seen.lock().unwrap().len(), 1);
}
