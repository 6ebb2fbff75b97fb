//! HTTP fetching of feeds and article pages, politely and within bounds:
//! conditional GET for feeds, per-host concurrency and spacing, body size
//! caps enforced while streaming (after decompression, so a gzip bomb stops
//! at the cap), timeouts, a redirect limit and the SSRF guard.

pub mod guard;
pub mod politeness;
pub mod robots;

use std::sync::{Arc, Once};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{
    CONTENT_TYPE, ETAG, HeaderMap, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, RETRY_AFTER,
};
use url::Url;

use crate::config::FetchConfig;
use politeness::HostLimiter;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("blocked: {0}")]
    Blocked(String),
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
            FetchError::Blocked(_) | FetchError::TooLarge { .. } => false,
        }
    }

    /// A short label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Blocked(_) => "blocked",
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
        let text = error_chain(&error);
        if text.contains("blocked:") {
            FetchError::Blocked(text)
        } else if error.is_timeout() {
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

/// What a feed response says about caching, beyond the validators.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Freshness {
    pub cache_control: Option<String>,
    pub expires: Option<String>,
    /// The server's `Date`, against which `Expires` is read (clocks differ).
    pub date: Option<String>,
}

impl Freshness {
    /// How long the response stays fresh: `max-age` when given (it beats
    /// `Expires`, as in HTTP caching), else `Expires` − `Date`. `no-store`
    /// and `no-cache` ask for no wait.
    pub fn fresh_for(&self) -> Option<Duration> {
        if let Some(cache_control) = &self.cache_control {
            let mut max_age = None;
            for directive in cache_control.split(',') {
                let directive = directive.trim().to_ascii_lowercase();
                if directive == "no-store" || directive == "no-cache" {
                    return None;
                }
                if let Some(seconds) = directive.strip_prefix("max-age=") {
                    max_age = seconds.trim_matches('"').parse::<u64>().ok();
                }
            }
            if let Some(seconds) = max_age {
                return (seconds > 0).then(|| Duration::from_secs(seconds));
            }
        }
        let expires = chrono::DateTime::parse_from_rfc2822(self.expires.as_deref()?.trim()).ok()?;
        let date = self
            .date
            .as_deref()
            .and_then(|d| chrono::DateTime::parse_from_rfc2822(d.trim()).ok())
            .map_or_else(chrono::Utc::now, |d| d.with_timezone(&chrono::Utc));
        (expires.with_timezone(&chrono::Utc) - date)
            .to_std()
            .ok()
            .filter(|d| !d.is_zero())
    }
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
                Err(reason) => attempt.error(format!("blocked: redirect target {reason}")),
            }
        });
        let builder = || {
            reqwest::Client::builder()
                .user_agent(config.user_agent.clone())
                .connect_timeout(config.connect_timeout)
                .timeout(config.timeout)
                .read_timeout(config.timeout.min(Duration::from_secs(15)))
                .dns_resolver(Arc::new(guard::GuardedResolver {
                    policy: Arc::clone(&addresses),
                }))
                .pool_max_idle_per_host(config.per_host_concurrency.max(2))
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
        let freshness = Freshness {
            cache_control: header_text(response.headers(), reqwest::header::CACHE_CONTROL),
            expires: header_text(response.headers(), reqwest::header::EXPIRES),
            date: header_text(response.headers(), reqwest::header::DATE),
        };
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
        let body = read_capped(response, self.max_feed_bytes).await?;
        Ok(FeedResponse::Fetched {
            body,
            content_type,
            validators,
            freshness,
            final_url,
            moved_to,
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

    /// Sends a GET through the host gate; non-success statuses (other than
    /// 304) become errors, and `Retry-After` on 429/503 pauses the host.
    async fn send(&self, url: &Url, headers: HeaderMap) -> Result<reqwest::Response, FetchError> {
        self.send_with(&self.client, url, headers).await
    }

    async fn send_with(
        &self,
        client: &reqwest::Client,
        url: &Url,
        headers: HeaderMap,
    ) -> Result<reqwest::Response, FetchError> {
        guard::check_url(url, &self.addresses).map_err(FetchError::Blocked)?;
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let _permit = self.hosts.acquire(&host).await;
        let response = client
            .get(url.clone())
            .headers(headers)
            .send()
            .await
            .map_err(FetchError::from_reqwest)?;
        let status = response.status();
        if status.is_success() || status.is_redirection() {
            // Redirects only reach here from the feed client, which follows
            // them itself.
            return Ok(response);
        }
        let retry_after = header_text(response.headers(), RETRY_AFTER)
            .as_deref()
            .and_then(parse_retry_after);
        if let Some(delay) = retry_after
            && (status == StatusCode::TOO_MANY_REQUESTS
                || status == StatusCode::SERVICE_UNAVAILABLE)
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

/// `Retry-After` as seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
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
mod tests {
    use super::*;

    #[test]
    fn freshness_lifetime() {
        let fresh = |cache_control: Option<&str>, expires: Option<&str>, date: Option<&str>| {
            Freshness {
                cache_control: cache_control.map(str::to_string),
                expires: expires.map(str::to_string),
                date: date.map(str::to_string),
            }
            .fresh_for()
        };
        let date = Some("Sat, 28 Nov 2026 10:00:00 GMT");
        let in_an_hour = Some("Sat, 28 Nov 2026 11:00:00 GMT");
        assert_eq!(
            fresh(Some("public, max-age=900"), None, None),
            Some(Duration::from_secs(900))
        );
        assert_eq!(
            fresh(Some("max-age=60"), in_an_hour, date),
            Some(Duration::from_secs(60)),
            "max-age beats Expires"
        );
        assert_eq!(
            fresh(None, in_an_hour, date),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(fresh(Some("max-age=0"), None, None), None);
        assert_eq!(fresh(Some("no-cache, max-age=600"), None, None), None);
        assert_eq!(fresh(None, Some("0"), date), None);
        assert_eq!(
            fresh(None, Some("Sat, 28 Nov 2026 09:00:00 GMT"), date),
            None
        );
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

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
}
