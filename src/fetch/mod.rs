//! HTTP fetching of feeds and article pages, politely and within bounds:
//! conditional GET for feeds, concurrency and spacing per host group, body size
//! caps enforced while streaming (after decompression, so a gzip bomb stops
//! at the cap), timeouts, a redirect limit and the SSRF guard.

pub mod blocked;
mod form;
mod freshness;
pub mod guard;
pub mod politeness;
pub mod robots;

pub use blocked::BlockKind;
pub use freshness::{Freshness, parse_retry_after};

use std::sync::{Arc, Once};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{
    CONTENT_TYPE, ETAG, HeaderMap, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, RETRY_AFTER,
};
use url::Url;

use crate::config::FetchConfig;
pub use crate::config::HostGroup;
use politeness::HostLimiter;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Refused by the worker itself: the SSRF guard or robots.txt.
    #[error("blocked: {0}")]
    Blocked(String),
    /// The site answered with an anti-bot challenge instead of the page.
    #[error("blocked by the site: {}", .0.as_str())]
    Interstitial(BlockKind),
    #[error("HTTP {status}")]
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("body larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("timed out")]
    Timeout,
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("request failed: {0}")]
    Request(String),
}

impl FetchError {
    /// Whether another attempt may succeed (server trouble, network trouble).
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Status { status, .. } => {
                *status == 408 || *status == 425 || *status == 429 || *status >= 500
            }
            FetchError::Timeout | FetchError::Connect(_) | FetchError::Request(_) => true,
            // A challenge does not clear in seconds; the host is paused instead.
            FetchError::Blocked(_) | FetchError::Interstitial(_) | FetchError::TooLarge { .. } => {
                false
            }
        }
    }

    /// A short label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Blocked(_) => "blocked",
            FetchError::Interstitial(_) => "interstitial",
            FetchError::Status { .. } => "http_status",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::Timeout => "timeout",
            FetchError::Connect(_) => "connect",
            FetchError::Request(_) => "request",
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    fn from_reqwest(error: reqwest::Error) -> FetchError {
        if let Some(refusal) = guard::Refusal::find_in(&error) {
            return FetchError::Blocked(refusal.to_string());
        }
        let text = error_chain(&error);
        if error.is_timeout() {
            FetchError::Timeout
        } else if error.is_connect() {
            FetchError::Connect(text)
        } else {
            FetchError::Request(text)
        }
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Validators from the previous successful poll of a feed.
#[derive(Debug, Clone, Default)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Debug)]
pub enum FeedResponse {
    NotModified {
        validators: Validators,
        freshness: Freshness,
        /// Every redirect on the way was permanent (301/308): the feed moved.
        moved_to: Option<Url>,
    },
    Fetched {
        body: Vec<u8>,
        content_type: Option<String>,
        validators: Validators,
        freshness: Freshness,
        final_url: Url,
        moved_to: Option<Url>,
        /// The `Link` header values, where a WebSub hub may be named.
        link_headers: Vec<String>,
    },
}

#[derive(Debug)]
pub struct Page {
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub final_url: Url,
}

/// The one HTTP client of the worker. Cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    /// Follows no redirects, so feed polls can see a permanent move.
    feed_client: reqwest::Client,
    max_redirects: usize,
    hosts: Arc<HostLimiter>,
    addresses: Arc<guard::AddressPolicy>,
    max_feed_bytes: u64,
    max_page_bytes: u64,
    /// How long the group of a host that answered with a challenge or a
    /// consent wall is blocked (unless it said how long, with `Retry-After`).
    blocked_pause: Duration,
    /// How long a group is paused by a 429 without `Retry-After`.
    rate_limit_pause: Duration,
    /// `None` when robots.txt is not honoured (`fetch.respect_robots_txt`).
    robots: Option<Arc<robots::RobotsCache>>,
}

static CRYPTO: Once = Once::new();

impl Fetcher {
    pub fn new(config: &FetchConfig) -> Result<Fetcher, FetchError> {
        CRYPTO.call_once(|| {
            // Fails only when another provider is installed already: fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
        });
        let addresses = Arc::new(guard::AddressPolicy {
            allow_private: config.allow_private_networks,
            networks: config.private_networks.clone(),
        });
        let redirect_policy = Arc::clone(&addresses);
        let max_redirects = config.max_redirects;
        let redirect = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= max_redirects {
                return attempt.error(format!("more than {max_redirects} redirects"));
            }
            match guard::check_url(attempt.url(), &redirect_policy) {
                Ok(()) => attempt.follow(),
                Err(refusal) => attempt.error(guard::Refusal::Redirect(Box::new(refusal))),
            }
        });
        let builder = || {
            reqwest::Client::builder()
                .user_agent(config.user_agent_header())
                .connect_timeout(config.connect_timeout)
                .timeout(config.timeout)
                .read_timeout(config.timeout.min(Duration::from_secs(15)))
                .dns_resolver(Arc::new(guard::GuardedResolver {
                    policy: Arc::clone(&addresses),
                }))
                .pool_max_idle_per_host(config.most_requests_per_host().max(2))
                // reqwest reads HTTP(S)_PROXY/ALL_PROXY by default, and a proxy
                // resolves and connects to the target itself: the guard
                // above would never see the address.
                .no_proxy()
        };
        let feed_client = builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| FetchError::Request(error_chain(&e)))?;
        let client = builder()
            .redirect(redirect)
            .build()
            .map_err(|e| FetchError::Request(error_chain(&e)))?;
        Ok(Fetcher {
            client,
            feed_client,
            max_redirects,
            hosts: Arc::new(HostLimiter::new(config)),
            addresses,
            max_feed_bytes: config.max_feed_bytes,
            max_page_bytes: config.max_page_bytes,
            blocked_pause: config.blocked_pause,
            rate_limit_pause: config.rate_limit_pause,
            robots: config
                .respect_robots_txt
                .then(|| Arc::new(robots::RobotsCache::default())),
        })
    }

    /// Conditional GET of a feed.
    pub async fn fetch_feed(
        &self,
        url: &Url,
        validators: &Validators,
    ) -> Result<FeedResponse, FetchError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::ACCEPT,
            "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5"
                .parse()
                .expect("static header"),
        );
        if let Some(etag) = validators.etag.as_deref().and_then(|v| v.parse().ok()) {
            headers.insert(IF_NONE_MATCH, etag);
        }
        if let Some(lm) = validators
            .last_modified
            .as_deref()
            .and_then(|v| v.parse().ok())
        {
            headers.insert(IF_MODIFIED_SINCE, lm);
        }
        // Redirects are followed here, not by the client, to tell a permanent
        // move (301/308 all the way) from a temporary one.
        let mut current = url.clone();
        let mut permanent = true;
        let mut hops = 0;
        let response = loop {
            let response = self
                .send_with(&self.feed_client, &current, headers.clone())
                .await?;
            let status = response.status();
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| current.join(l).ok());
            match location {
                Some(next) if status.is_redirection() && status != StatusCode::NOT_MODIFIED => {
                    hops += 1;
                    if hops > self.max_redirects {
                        return Err(FetchError::Request(format!(
                            "more than {} redirects",
                            self.max_redirects
                        )));
                    }
                    permanent &= matches!(status.as_u16(), 301 | 308);
                    current = next;
                }
                _ => break response,
            }
        };
        let moved_to = (hops > 0 && permanent).then(|| current.clone());
        let freshness = Freshness::from_headers(response.headers());
        if response.status() == StatusCode::NOT_MODIFIED {
            return Ok(FeedResponse::NotModified {
                validators: validators_of(response.headers(), validators),
                freshness,
                moved_to,
            });
        }
        let validators = validators_of(response.headers(), &Validators::default());
        let final_url = response.url().clone();
        let content_type = header_text(response.headers(), CONTENT_TYPE);
        let link_headers = response
            .headers()
            .get_all(reqwest::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        let body = read_capped(response, self.max_feed_bytes).await?;
        Ok(FeedResponse::Fetched {
            body,
            content_type,
            validators,
            freshness,
            final_url,
            moved_to,
            link_headers,
        })
    }

    /// GET of an article page (one attempt; the caller retries), unless the
    /// site's robots.txt disallows it.
    pub async fn fetch_page(&self, url: &Url) -> Result<Page, FetchError> {
        if let Some(robots) = &self.robots {
            let allowed = robots
                .allows(url, |robots_url| async move {
                    match self.get_robots(&robots_url).await {
                        Ok(body) => Ok(Some(body)),
                        Err(FetchError::Status { status, .. }) if (400..500).contains(&status) => {
                            Ok(None)
                        }
                        Err(_) => Err(()),
                    }
                })
                .await;
            if !allowed {
                return Err(FetchError::Blocked(format!("robots.txt disallows {url}")));
            }
        }
        self.fetch_any(url).await
    }

    async fn get_robots(&self, url: &Url) -> Result<Vec<u8>, FetchError> {
        let response = self.send(url, HeaderMap::new()).await?;
        read_capped(response, 512 * 1024).await
    }

    /// GET of any document (sitemaps, pages), capped at the page limit.
    pub async fn fetch_any(&self, url: &Url) -> Result<Page, FetchError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::ACCEPT,
            "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
                .parse()
                .expect("static header"),
        );
        let response = self.send(url, headers).await?;
        let final_url = response.url().clone();
        let content_type = header_text(response.headers(), CONTENT_TYPE);
        let body = read_capped(response, self.max_page_bytes).await?;
        Ok(Page {
            body,
            content_type,
            final_url,
        })
    }

    /// The host group whose politeness budget a request to `url` spends.
    pub fn host_group(&self, url: &Url) -> Option<HostGroup> {
        url.host_str().map(|host| self.hosts.group_of(host))
    }

    /// Leaves `url`'s host group alone for `fetch.blocked_pause`: its page
    /// turned out to be a challenge or a consent wall (found in the page
    /// itself). Until then its pages and feeds fail at once with `kind`.
    pub fn back_off(&self, url: &Url, kind: BlockKind) {
        if let Some(host) = url.host_str() {
            self.hosts
                .block(&host.to_ascii_lowercase(), kind, self.blocked_pause);
        }
    }

    /// Sends a GET through the host group's gate; non-success statuses
    /// (other than 304) become errors, a 429 (for its `Retry-After`, else
    /// `fetch.rate_limit_pause`) or a 503 with `Retry-After` pauses the
    /// group, and an anti-bot challenge (named by its headers, whatever its
    /// status) blocks it: until the block ends, requests to any of its hosts
    /// fail without being sent.
    async fn send(&self, url: &Url, headers: HeaderMap) -> Result<reqwest::Response, FetchError> {
        self.send_with(&self.client, url, headers).await
    }

    async fn send_with(
        &self,
        client: &reqwest::Client,
        url: &Url,
        headers: HeaderMap,
    ) -> Result<reqwest::Response, FetchError> {
        self.send_request(client.get(url.clone()).headers(headers), url)
            .await
    }

    /// Sends `request` (to `url`) as `send_with` describes.
    async fn send_request(
        &self,
        request: reqwest::RequestBuilder,
        url: &Url,
    ) -> Result<reqwest::Response, FetchError> {
        guard::check_url(url, &self.addresses).map_err(|r| FetchError::Blocked(r.to_string()))?;
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        if let Some(kind) = self.hosts.blocked(&host) {
            return Err(FetchError::Interstitial(kind));
        }
        let _permit = self.hosts.acquire(&host).await;
        tracing::debug!(%host, group = %self.hosts.group_of(&host), "request starts");
        let response = request.send().await.map_err(FetchError::from_reqwest)?;
        let status = response.status();
        let retry_after = header_text(response.headers(), RETRY_AFTER)
            .as_deref()
            .and_then(parse_retry_after);
        if let Some(kind) = BlockKind::from_headers(status, response.headers()) {
            // Asking again soon only earns another challenge, or a ban.
            self.hosts
                .block(&host, kind, retry_after.unwrap_or(self.blocked_pause));
            return Err(FetchError::Interstitial(kind));
        }
        if status.is_success() || status.is_redirection() {
            // Redirects only reach here from the feed client, which follows
            // them itself.
            return Ok(response);
        }
        // The service is overloaded or rationing us, whichever of its names
        // we asked: the whole group waits (a 429 even when it gave no time).
        if status == StatusCode::TOO_MANY_REQUESTS {
            self.hosts
                .pause(&host, retry_after.unwrap_or(self.rate_limit_pause));
        } else if let Some(delay) = retry_after
            && status == StatusCode::SERVICE_UNAVAILABLE
        {
            self.hosts.pause(&host, delay);
        }
        Err(FetchError::Status {
            status: status.as_u16(),
            retry_after,
        })
    }
}

fn header_text(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn validators_of(headers: &HeaderMap, previous: &Validators) -> Validators {
    Validators {
        etag: header_text(headers, ETAG).or_else(|| previous.etag.clone()),
        last_modified: header_text(headers, LAST_MODIFIED)
            .or_else(|| previous.last_modified.clone()),
    }
}

/// Reads a body chunk by chunk, failing as soon as it passes `limit`.
async fn read_capped(mut response: reqwest::Response, limit: u64) -> Result<Vec<u8>, FetchError> {
    if response.content_length().is_some_and(|len| len > limit) {
        return Err(FetchError::TooLarge { limit });
    }
    let mut body =
        Vec::with_capacity(response.content_length().unwrap_or(16 * 1024).min(limit) as usize);
    while let Some(chunk) = response.chunk().await.map_err(FetchError::from_reqwest)? {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(FetchError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests;
