//! The harness's HTTP side: an in-process server on loopback (hyper) that
//! serves canned routes, and a GET for the worker's ops endpoint.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::channel::Channel;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, IF_NONE_MATCH};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::fixture_path;

/// One canned HTTP response.
#[derive(Clone, Debug)]
pub struct Route {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    /// Waited before answering: a slow server, so work is in flight.
    pub delay: Duration,
    /// Sends the body one byte at a time with this pause between bytes.
    pub trickle: Option<Duration>,
}

impl Route {
    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Route {
        Route {
            status: 200,
            content_type: content_type.into(),
            body: body.into(),
            headers: Vec::new(),
            delay: Duration::ZERO,
            trickle: None,
        }
    }

    pub fn delayed(self, delay: Duration) -> Route {
        Route { delay, ..self }
    }

    pub fn status(status: u16) -> Route {
        Route {
            status,
            content_type: "text/plain".into(),
            body: format!("status {status}").into_bytes(),
            headers: Vec::new(),
            delay: Duration::ZERO,
            trickle: None,
        }
    }
}

#[derive(Default)]
struct ServerState {
    routes: HashMap<String, Route>,
    hits: HashMap<String, usize>,
    /// The `Host` and `User-Agent` headers of every request, in order of arrival.
    hosts: Vec<String>,
    user_agents: Vec<String>,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: usize,
    max_in_flight: usize,
}

type Body = BoxBody<Bytes, Infallible>;

/// A tiny HTTP/1.1 server on 127.0.0.1 (hyper): one response per
/// connection, a route's canned response per path (404 elsewhere), a 304
/// when the request's `If-None-Match` is the route's `ETag`.
#[derive(Clone)]
pub struct TestServer {
    pub base: String,
    state: Arc<Mutex<ServerState>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(ServerState::default()));
        let shared = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&shared);
                let service = service_fn(move |request| respond(Arc::clone(&state), request));
                tokio::spawn(
                    http1::Builder::new()
                        .keep_alive(false)
                        // Only the route's headers: no `Date` of the server's own.
                        .auto_date_header(false)
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        TestServer { base, state }
    }

    pub fn route(&self, path: &str, route: Route) {
        self.state
            .lock()
            .unwrap()
            .routes
            .insert(path.to_string(), route);
    }

    /// Serves a fixture file, with `{BASE}` replaced by this server's base URL.
    pub fn fixture(&self, path: &str, content_type: &str, fixture: &str) {
        let text = std::fs::read_to_string(fixture_path(fixture)).unwrap();
        self.route(
            path,
            Route::ok(content_type, text.replace("{BASE}", &self.base)),
        );
    }

    pub fn hits(&self, path: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .hits
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The `Host` header of every request so far, in order of arrival.
    pub fn hosts_seen(&self) -> Vec<String> {
        self.state.lock().unwrap().hosts.clone()
    }

    /// The `User-Agent` of every request so far, in order of arrival.
    pub fn user_agents_seen(&self) -> Vec<String> {
        self.state.lock().unwrap().user_agents.clone()
    }

    /// The most requests this server was answering at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.lock().unwrap().max_in_flight
    }
}

/// The route's response to `request`, counted as a hit on its path.
async fn respond(
    state: Arc<Mutex<ServerState>>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = request.uri().path().to_string();
    let route = {
        let mut s = state.lock().unwrap();
        *s.hits.entry(path.clone()).or_default() += 1;
        let header = |name| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        s.hosts.push(header(hyper::header::HOST));
        s.user_agents.push(header(hyper::header::USER_AGENT));
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        s.routes.get(&path).cloned()
    };
    let response = answer(route, &request).await;
    state.lock().unwrap().in_flight -= 1;
    response
}

async fn answer(
    route: Option<Route>,
    request: &Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let mut route = route.unwrap_or_else(|| Route::status(404));
    let if_none_match = request.headers().get(IF_NONE_MATCH);
    let etag = route
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("etag"))
        .map(|(_, v)| v.as_str());
    if etag.is_some() && etag == if_none_match.and_then(|v| v.to_str().ok()) {
        route = Route {
            status: 304,
            body: Vec::new(),
            ..route
        };
    }
    if !route.delay.is_zero() {
        tokio::time::sleep(route.delay).await;
    }
    let mut response = Response::builder()
        .status(route.status)
        .header(CONTENT_TYPE, &route.content_type)
        .header(CONTENT_LENGTH, route.body.len());
    for (k, v) in &route.headers {
        response = response.header(k.as_str(), v.as_str());
    }
    let body = match route.trickle {
        // One byte at a time, for as long as the client reads.
        Some(pause) => {
            let (mut sender, body) = Channel::<Bytes>::new(1);
            tokio::spawn(async move {
                for byte in route.body {
                    if sender.send_data(Bytes::from(vec![byte])).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(pause).await;
                }
            });
            body.boxed()
        }
        None => Full::new(Bytes::from(route.body)).boxed(),
    };
    Ok(response.body(body).expect("a route is a valid response"))
}

/// GET on loopback: (status, body), `None` when no answer came.
pub async fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    http_request(addr, "GET", path, &[], Vec::new()).await
}

/// A request on loopback with `headers` and `body`: (status, body), `None`
/// when no answer came.
pub async fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Option<(u16, String)> {
    let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, addr);
    for (name, value) in headers {
        request = request.header(*name, value.as_str());
    }
    let request = request.body(Full::new(Bytes::from(body))).ok()?;
    let response = sender.send_request(request).await.ok()?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.ok()?.to_bytes();
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
