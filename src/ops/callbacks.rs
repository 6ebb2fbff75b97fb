//! A route of the ops endpoint handed to another part of the worker: WebSub
//! hubs call back under `[push] callback_base`, so one port carries
//! metrics, probes and callbacks. The ops server reads the request (its
//! body bounded) and answers what the handler returns; it knows nothing of
//! WebSub.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::HeaderMap;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};

use super::server::text;

/// A request under the route's path.
#[derive(Debug)]
pub struct CallbackRequest {
    pub method: http::Method,
    pub path: String,
    /// The decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// What to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackReply {
    pub status: u16,
    pub body: String,
}

pub type CallbackFuture = Pin<Box<dyn Future<Output = CallbackReply> + Send>>;
pub type CallbackHandler = Arc<dyn Fn(CallbackRequest) -> CallbackFuture + Send + Sync>;

/// The route: every path under `base_path`, requests up to `max_body` bytes.
pub(crate) struct Callbacks {
    pub base_path: String,
    pub max_body: usize,
    pub handler: CallbackHandler,
}

impl Callbacks {
    /// Whether `path` is this route's.
    pub fn owns(&self, path: &str) -> bool {
        let base = self.base_path.trim_end_matches('/');
        path.strip_prefix(base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// Reads the request (413 beyond `max_body`) and answers the handler's reply.
    pub async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let body = match Limited::new(body, self.max_body).collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) => return text(StatusCode::PAYLOAD_TOO_LARGE, "too large".into()),
        };
        let query = parts
            .uri
            .query()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        let answer = (self.handler)(CallbackRequest {
            method: parts.method,
            path: parts.uri.path().to_string(),
            query,
            headers: parts.headers,
            body,
        })
        .await;
        text(
            StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            answer.body,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_owns_its_path_and_what_is_under_it() {
        let route = Callbacks {
            base_path: "/websub/".into(),
            max_body: 10,
            handler: Arc::new(|_| {
                Box::pin(async {
                    CallbackReply {
                        status: 200,
                        body: String::new(),
                    }
                })
            }),
        };
        assert!(route.owns("/websub"));
        assert!(route.owns("/websub/abc"));
        assert!(!route.owns("/websubx"));
        assert!(!route.owns("/metrics"));
    }
}
