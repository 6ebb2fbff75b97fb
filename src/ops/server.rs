//! The operations endpoint: `/metrics`, `/healthz` and `/readyz`.
//!
//! It starts before anything else, so `/healthz` answers within a second of
//! start even while the broker is still being reached; `/readyz` answers 503
//! until the worker says it is ready, and whenever it stops being so.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::Metrics;
use super::callbacks::{CallbackHandler, Callbacks};

/// Bounds that keep the endpoint answering when clients misbehave: 80 idle
/// half-open requests under `ulimit -n 64` used every descriptor, `accept`
/// then failed in a tight loop on one core, and `/healthz` went unanswered.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// A connection that has not sent a whole request head by then (a new
    /// one, or an idle keep-alive one) is closed.
    pub header_timeout: Duration,
    /// Connections served at once; a new one beyond it closes the oldest,
    /// so a probe always gets in (probes and scrapes are short and reconnect).
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(5),
            max_connections: 32,
        }
    }
}

/// Pause after the `n`-th accept error in a row (1-based): 10 ms doubling
/// to 1 s. Accept errors are mostly out-of-descriptors, which a retry at
/// once cannot fix.
pub(crate) fn accept_backoff(n: u32) -> Duration {
    Duration::from_millis(10u64 << n.saturating_sub(1).min(7)).min(Duration::from_secs(1))
}

/// Open connections, oldest first, each with the token that closes it.
#[derive(Default)]
struct Open {
    next_id: u64,
    by_age: BTreeMap<u64, CancellationToken>,
}

impl Open {
    fn add(&mut self) -> (u64, CancellationToken) {
        let id = self.next_id;
        self.next_id += 1;
        let token = CancellationToken::new();
        self.by_age.insert(id, token.clone());
        (id, token)
    }

    /// Closes the oldest connection, if any.
    fn shed_oldest(&mut self) {
        if let Some((_, token)) = self.by_age.pop_first() {
            token.cancel();
        }
    }
}

/// Says whether the worker can take work now, or why not.
pub type ReadinessProbe = Box<dyn Fn() -> Result<(), String> + Send + Sync>;
/// Brings scrape-time gauges (broker connected, store size, ...) up to date.
pub type Refresh = Box<dyn Fn() + Send + Sync>;

pub struct OpsServer {
    metrics: Arc<Metrics>,
    readiness: OnceLock<ReadinessProbe>,
    refresh: OnceLock<Refresh>,
    callbacks: OnceLock<Callbacks>,
    local_addr: SocketAddr,
}

impl OpsServer {
    /// Binds `listen` and serves in the background.
    pub async fn start(
        listen: SocketAddr,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Arc<OpsServer>> {
        Self::start_with(listen, metrics, Limits::default()).await
    }

    pub(crate) async fn start_with(
        listen: SocketAddr,
        metrics: Arc<Metrics>,
        limits: Limits,
    ) -> std::io::Result<Arc<OpsServer>> {
        let listener = Arc::new(TcpListener::bind(listen).await?);
        let server = Arc::new(OpsServer {
            metrics,
            readiness: OnceLock::new(),
            refresh: OnceLock::new(),
            callbacks: OnceLock::new(),
            local_addr: listener.local_addr()?,
        });
        let accept = move || {
            let listener = Arc::clone(&listener);
            async move { listener.accept().await.map(|(stream, _)| stream) }
        };
        tokio::spawn(serve(accept, Arc::clone(&server), limits));
        Ok(server)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn set_readiness(&self, probe: ReadinessProbe) {
        let _ = self.readiness.set(probe);
    }

    pub fn set_refresh(&self, refresh: Refresh) {
        let _ = self.refresh.set(refresh);
    }

    /// Hands the requests under `base_path` (bodies up to `max_body`
    /// bytes) to `handler`: WebSub callbacks.
    pub fn set_callbacks(&self, base_path: &str, max_body: usize, handler: CallbackHandler) {
        let _ = self.callbacks.set(Callbacks {
            base_path: base_path.to_string(),
            max_body,
            handler,
        });
    }

    async fn route(&self, request: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        match self.callbacks.get() {
            Some(callbacks) if callbacks.owns(request.uri().path()) => {
                callbacks.answer(request).await
            }
            _ => self.answer(&request),
        }
    }

    fn answer<B>(&self, request: &Request<B>) -> Response<Full<Bytes>> {
        match request.uri().path() {
            "/healthz" => text(StatusCode::OK, "ok\n".into()),
            "/readyz" => match self.readiness.get().map(|probe| probe()) {
                Some(Ok(())) => text(StatusCode::OK, "ready\n".into()),
                Some(Err(reason)) => text(StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")),
                None => text(StatusCode::SERVICE_UNAVAILABLE, "starting\n".into()),
            },
            "/metrics" => {
                if let Some(refresh) = self.refresh.get() {
                    refresh();
                }
                let mut response = text(StatusCode::OK, self.metrics.encode());
                response.headers_mut().insert(
                    hyper::header::CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static(
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    ),
                );
                response
            }
            _ => text(StatusCode::NOT_FOUND, "not found\n".into()),
        }
    }
}

/// The accept loop: each connection served under `limits`; after an accept
/// error, the oldest connection is closed (freeing a descriptor if they are
/// what ran out) and the loop waits [`accept_backoff`] before trying again.
async fn serve<S, F, Fut>(mut accept: F, server: Arc<OpsServer>, limits: Limits)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::io::Result<S>>,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let open = Arc::new(Mutex::new(Open::default()));
    let mut errors = 0u32;
    loop {
        let stream = match accept().await {
            Ok(stream) => {
                errors = 0;
                stream
            }
            Err(error) => {
                errors = errors.saturating_add(1);
                let pause = accept_backoff(errors);
                if errors == 1 {
                    tracing::warn!(%error, retry_in = ?pause, "ops endpoint cannot accept connections");
                }
                open.lock().unwrap_or_else(|p| p.into_inner()).shed_oldest();
                tokio::time::sleep(pause).await;
                continue;
            }
        };
        let (id, closed) = {
            let mut open = open.lock().unwrap_or_else(|p| p.into_inner());
            while open.by_age.len() >= limits.max_connections.max(1) {
                open.shed_oldest();
            }
            open.add()
        };
        let server = Arc::clone(&server);
        let open = Arc::clone(&open);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let server = Arc::clone(&server);
                async move { Ok::<_, Infallible>(server.route(request).await) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                // Dropping the connection closes its socket.
                _ = closed.cancelled() => {}
            }
            open.lock()
                .unwrap_or_else(|p| p.into_inner())
                .by_age
                .remove(&id);
        });
    }
}

/// A plain-text answer (the callback route's too).
pub(super) fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            )
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let status = response[9..12].parse().unwrap();
        let body = response.split_once("\r\n\r\n").unwrap().1.to_string();
        (status, body)
    }

    fn metrics() -> Arc<Metrics> {
        Arc::new(Metrics::new(false))
    }

    /// A connection that has sent part of a request head, and then nothing.
    async fn half_open(addr: SocketAddr) -> tokio::net::TcpStream {
        use tokio::io::AsyncWriteExt;
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\n")
            .await
            .unwrap();
        stream
    }

    /// Reads until the server closes the connection; `None` if it has not
    /// within a minute.
    async fn closed_by_server(stream: &mut tokio::net::TcpStream) -> Option<()> {
        use tokio::io::AsyncReadExt;
        let mut sink = Vec::new();
        tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut sink))
            .await
            .ok()
            .map(|_| ())
    }

    #[tokio::test]
    async fn idle_connections_are_closed_after_the_header_timeout() {
        let limits = Limits {
            header_timeout: Duration::from_millis(300),
            ..Limits::default()
        };
        let server = OpsServer::start_with("127.0.0.1:0".parse().unwrap(), metrics(), limits)
            .await
            .unwrap();
        let addr = server.local_addr();
        let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut partial = half_open(addr).await;
        assert_eq!(closed_by_server(&mut silent).await, Some(()));
        assert_eq!(closed_by_server(&mut partial).await, Some(()));
        assert_eq!(get(addr, "/healthz").await.0, 200);
    }

    #[tokio::test]
    async fn healthz_answers_while_many_idle_connections_are_open() {
        let limits = Limits {
            // Far longer than the test: only the connection limit can help.
            header_timeout: Duration::from_secs(3600),
            max_connections: 8,
        };
        let server = OpsServer::start_with("127.0.0.1:0".parse().unwrap(), metrics(), limits)
            .await
            .unwrap();
        let addr = server.local_addr();
        let mut idle = Vec::new();
        for _ in 0..50 {
            idle.push(half_open(addr).await);
        }
        for _ in 0..3 {
            assert_eq!(get(addr, "/healthz").await.0, 200);
        }
        // The oldest idle connections made room.
        assert_eq!(closed_by_server(&mut idle[0]).await, Some(()));
    }

    #[test]
    fn accept_backoff_grows_to_a_second() {
        assert_eq!(accept_backoff(1), Duration::from_millis(10));
        assert_eq!(accept_backoff(2), Duration::from_millis(20));
        assert_eq!(accept_backoff(7), Duration::from_millis(640));
        assert_eq!(accept_backoff(8), Duration::from_secs(1));
        assert_eq!(accept_backoff(u32::MAX), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn accept_errors_do_not_busy_loop() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let server =
            OpsServer::start_with("127.0.0.1:0".parse().unwrap(), metrics(), Limits::default())
                .await
                .unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        // Out of descriptors, every time. After 1,000 calls it stops
        // answering, so a loop without a pause fails the test instead of
        // hanging it.
        let accept = move || {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if n >= 1000 {
                    std::future::pending::<()>().await;
                }
                Err::<tokio::net::TcpStream, _>(std::io::Error::from_raw_os_error(24))
            }
        };
        tokio::spawn(serve(accept, server, Limits::default()));
        tokio::time::sleep(Duration::from_secs(60)).await;
        let calls = calls.load(Ordering::SeqCst);
        // About one a second once the backoff is at its cap.
        assert!((50..=80).contains(&calls), "{calls} accept calls in 60 s");
    }

    #[tokio::test]
    async fn health_readiness_and_metrics() {
        let metrics = Arc::new(Metrics::new(false));
        let server = OpsServer::start("127.0.0.1:0".parse().unwrap(), Arc::clone(&metrics))
            .await
            .unwrap();
        let addr = server.local_addr();
        assert_eq!(get(addr, "/healthz").await.0, 200);
        assert_eq!(get(addr, "/readyz").await, (503, "starting\n".into()));
        server.set_readiness(Box::new(|| Err("broker disconnected".into())));
        assert_eq!(
            get(addr, "/readyz").await,
            (503, "broker disconnected\n".into())
        );
        let (status, body) = get(addr, "/metrics").await;
        assert_eq!(status, 200);
        assert!(body.contains("feedwire_build_info"));
        assert_eq!(get(addr, "/nope").await.0, 404);
    }
}
