//! A WebSub hub on loopback, as small as the tests need: it takes
//! subscription requests (202), verifies each subscriber's intent on its
//! callback with a challenge and the lease it grants, and delivers
//! notifications signed with the subscriber's secret (or forged). `kill`
//! stops it answering, as a hub that went away.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use url::Url;

use super::http_request;

/// A subscriber as the hub knows it.
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub callback: Url,
    pub secret: String,
    /// The callback echoed our challenge for the subscription.
    pub verified: bool,
}

#[derive(Default)]
struct Books {
    /// Every form posted to the hub, in order.
    forms: Vec<Vec<(String, String)>>,
    /// By topic.
    subscribers: HashMap<String, Subscriber>,
    /// (mode, topic, whether the callback echoed the challenge).
    verifications: Vec<(String, String, bool)>,
}

pub struct TestHub {
    pub url: String,
    books: Arc<Mutex<Books>>,
    server: tokio::task::JoinHandle<()>,
}

/// How a notification is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// With the subscriber's secret (sha256).
    Good,
    /// With another secret.
    Forged,
}

impl TestHub {
    /// A hub that grants every subscription `lease_seconds`.
    pub async fn start(lease_seconds: u64) -> TestHub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let books = Arc::new(Mutex::new(Books::default()));
        let shared = Arc::clone(&books);
        let server = tokio::spawn(async move {
            // Owned by this task: aborting it closes every open connection
            // too, so a client's kept-alive connection dies with the hub.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                while connections.try_join_next().is_some() {}
                let books = Arc::clone(&shared);
                let service = service_fn(move |request: Request<Incoming>| {
                    let books = Arc::clone(&books);
                    async move { Ok::<_, Infallible>(take(request, books, lease_seconds).await) }
                });
                connections.spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        TestHub { url, books, server }
    }

    fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        self.books.lock().unwrap()
    }

    pub fn forms(&self) -> Vec<Vec<(String, String)>> {
        self.books().forms.clone()
    }

    /// Verifications of intent so far: (mode, topic, echoed).
    pub fn verifications(&self) -> Vec<(String, String, bool)> {
        self.books().verifications.clone()
    }

    pub fn subscriber(&self, topic: &str) -> Option<Subscriber> {
        self.books().subscribers.get(topic).cloned()
    }

    /// Waits (up to a minute) until `check` holds of the hub's books.
    pub async fn wait_for(&self, what: &str, check: impl Fn(&TestHub) -> bool) {
        for _ in 0..600 {
            if check(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("hub: {what} did not happen within a minute");
    }

    /// Delivers `body` to the verified subscriber of `topic`: the status
    /// its callback answered, `None` when nothing answered.
    pub async fn notify(&self, topic: &str, body: &[u8], signing: Signing) -> Option<u16> {
        let subscriber = self
            .subscriber(topic)
            .filter(|s| s.verified)
            .expect("a verified subscriber");
        let secret = match signing {
            Signing::Good => subscriber.secret.clone(),
            Signing::Forged => "not the secret".to_string(),
        };
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        let digest: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let callback = &subscriber.callback;
        let addr = format!(
            "{}:{}",
            callback.host_str().unwrap(),
            callback.port_or_known_default().unwrap()
        );
        let headers = [
            ("content-type", "application/rss+xml".to_string()),
            ("x-hub-signature", format!("sha256={digest}")),
            (
                "link",
                format!("<{topic}>; rel=\"self\", <{}>; rel=\"hub\"", self.url),
            ),
        ];
        http_request(&addr, "POST", callback.path(), &headers, body.to_vec())
            .await
            .map(|(status, _)| status)
    }

    /// Stops answering: new connections are refused.
    pub fn kill(&self) {
        self.server.abort();
    }
}

impl Drop for TestHub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A subscriber's request: noted, answered 202, and its intent verified
/// right after, as hubs do.
async fn take(
    request: Request<Incoming>,
    books: Arc<Mutex<Books>>,
    lease_seconds: u64,
) -> Response<Full<Bytes>> {
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (Some(callback), Some(mode), Some(topic)) = (
        get("hub.callback").and_then(|c| Url::parse(&c).ok()),
        get("hub.mode"),
        get("hub.topic"),
    ) else {
        return Response::builder()
            .status(400)
            .body(Full::new(Bytes::from_static(b"bad request")))
            .unwrap();
    };
    let secret = get("hub.secret").unwrap_or_default();
    books.lock().unwrap().forms.push(form.clone());
    tokio::spawn(async move {
        let challenge = format!("challenge-{}", fastrand::u64(..));
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("hub.mode", &mode)
            .append_pair("hub.topic", &topic)
            .append_pair("hub.challenge", &challenge)
            .append_pair("hub.lease_seconds", &lease_seconds.to_string())
            .finish();
        let addr = format!(
            "{}:{}",
            callback.host_str().unwrap(),
            callback.port_or_known_default().unwrap()
        );
        let path = format!("{}?{query}", callback.path());
        let answer = http_request(&addr, "GET", &path, &[], Vec::new()).await;
        let echoed = answer == Some((200, challenge));
        let mut books = books.lock().unwrap();
        books
            .verifications
            .push((mode.clone(), topic.clone(), echoed));
        if mode == "subscribe" {
            books.subscribers.insert(
                topic,
                Subscriber {
                    callback,
                    secret,
                    verified: echoed,
                },
            );
        } else if echoed {
            books.subscribers.remove(&topic);
        }
    });
    Response::builder()
        .status(202)
        .body(Full::new(Bytes::new()))
        .unwrap()
}
