//! The operations endpoint: `/metrics`, `/healthz` and `/readyz`.
//!
//! It starts before anything else, so `/healthz` answers within a second of
//! start even while the broker is still being reached; `/readyz` answers 503
//! until the worker says it is ready, and whenever it stops being so.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::Metrics;

/// Says whether the worker can take work now, or why not.
pub type ReadinessProbe = Box<dyn Fn() -> Result<(), String> + Send + Sync>;
/// Brings scrape-time gauges (broker connected, store size, ...) up to date.
pub type Refresh = Box<dyn Fn() + Send + Sync>;

pub struct OpsServer {
    metrics: Arc<Metrics>,
    readiness: OnceLock<ReadinessProbe>,
    refresh: OnceLock<Refresh>,
    local_addr: SocketAddr,
}

impl OpsServer {
    /// Binds `listen` and serves in the background.
    pub async fn start(
        listen: SocketAddr,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Arc<OpsServer>> {
        let listener = TcpListener::bind(listen).await?;
        let server = Arc::new(OpsServer {
            metrics,
            readiness: OnceLock::new(),
            refresh: OnceLock::new(),
            local_addr: listener.local_addr()?,
        });
        let serving = Arc::clone(&server);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let server = Arc::clone(&serving);
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let server = Arc::clone(&server);
                        async move { Ok::<_, Infallible>(server.answer(&request)) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
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

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
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
