//! What a response says about time: how long a feed response stays fresh
//! (HTTP caching, read by http-cache-semantics) and when a server asks to
//! be tried again (`Retry-After`). HTTP dates are read by httpdate, which
//! knows all three forms HTTP allows (IMF-fixdate, RFC 850, asctime).

use std::time::{Duration, SystemTime};

use http_cache_semantics::{CacheOptions, CachePolicy};
use reqwest::header::{AGE, CACHE_CONTROL, DATE, EXPIRES, HeaderMap, HeaderValue};

use super::header_text;

/// What a feed response says about caching, beyond the validators.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Freshness {
    pub cache_control: Option<String>,
    pub expires: Option<String>,
    /// The server's `Date`, against which `Expires` is read (clocks differ).
    pub date: Option<String>,
    /// `Age`: how long the response had sat in caches (a CDN's) already.
    pub age: Option<String>,
}

impl Freshness {
    pub fn from_headers(headers: &HeaderMap) -> Freshness {
        Freshness {
            cache_control: header_text(headers, CACHE_CONTROL),
            expires: header_text(headers, EXPIRES),
            date: header_text(headers, DATE),
            age: header_text(headers, AGE),
        }
    }

    /// How long the response stays fresh: `max-age` when given (it beats
    /// `Expires`), else `Expires` − `Date`, less the `Age` it already has.
    /// `no-store` and `no-cache` ask for no wait. `s-maxage` counts too when
    /// it is longer: behind a CDN the copy served is the CDN's, and it stays
    /// the same until then. A 304 carries the headers that refresh the
    /// stored response, so its lifetime is read the same way.
    pub fn fresh_for(&self) -> Option<Duration> {
        let now = SystemTime::now();
        let response = self.as_response();
        let request = http::Request::get("/").body(()).expect("static request");
        let time_to_live = |shared| {
            let options = CacheOptions {
                shared,
                // No lifetime guessed from Last-Modified, none assumed for
                // `immutable`: only what the server states.
                cache_heuristic: 0.0,
                immutable_min_time_to_live: Duration::ZERO,
                ..CacheOptions::default()
            };
            CachePolicy::new_options(&request, &response, now, options).time_to_live(now)
        };
        // The worker is one client (`private` responses count), and a CDN's
        // `s-maxage` tells when the copy it serves can change.
        let fresh = time_to_live(false).max(time_to_live(true));
        (!fresh.is_zero()).then_some(fresh)
    }

    /// The headers as a response http-cache-semantics reads. It reads dates
    /// as RFC 2822 only, so they are handed to it as IMF-fixdate.
    fn as_response(&self) -> http::Response<()> {
        let mut response = http::Response::new(());
        let headers = response.headers_mut();
        let dates = [(EXPIRES, &self.expires), (DATE, &self.date)];
        for (name, value) in dates {
            if let Some(value) = value {
                let value =
                    parse_http_date(value).map_or_else(|| value.clone(), httpdate::fmt_http_date);
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(name, value);
                }
            }
        }
        for (name, value) in [(CACHE_CONTROL, &self.cache_control), (AGE, &self.age)] {
            if let Some(value) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
                headers.insert(name, value);
            }
        }
        response
    }
}

/// An HTTP date in any of its three forms; failing those, an RFC 2822 date
/// with a numeric zone (`+0000`), which servers send though HTTP does not
/// allow it.
pub fn parse_http_date(value: &str) -> Option<SystemTime> {
    let value = value.trim();
    httpdate::parse_http_date(value).ok().or_else(|| {
        let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
        Some(SystemTime::from(date))
    })
}

/// `Retry-After` as seconds or an HTTP date (a date past is no wait).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = parse_http_date(value)?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh(
        cache_control: Option<&str>,
        expires: Option<&str>,
        date: Option<&str>,
    ) -> Option<u64> {
        fresh_aged(cache_control, expires, date, None)
    }

    fn fresh_aged(
        cache_control: Option<&str>,
        expires: Option<&str>,
        date: Option<&str>,
        age: Option<&str>,
    ) -> Option<u64> {
        Freshness {
            cache_control: cache_control.map(str::to_string),
            expires: expires.map(str::to_string),
            date: date.map(str::to_string),
            age: age.map(str::to_string),
        }
        .fresh_for()
        .map(|d| d.as_secs())
    }

    const DATE: Option<&str> = Some("Sat, 28 Nov 2026 10:00:00 GMT");
    const IN_AN_HOUR: Option<&str> = Some("Sat, 28 Nov 2026 11:00:00 GMT");

    #[test]
    fn freshness_lifetime() {
        assert_eq!(fresh(Some("public, max-age=900"), None, None), Some(900));
        assert_eq!(
            fresh(Some("max-age=60"), IN_AN_HOUR, DATE),
            Some(60),
            "max-age beats Expires"
        );
        assert_eq!(fresh(None, IN_AN_HOUR, DATE), Some(3600));
        assert_eq!(fresh(Some("max-age=0"), None, None), None);
        assert_eq!(fresh(Some("no-cache, max-age=600"), None, None), None);
        assert_eq!(fresh(Some("no-store, max-age=600"), IN_AN_HOUR, DATE), None);
        assert_eq!(fresh(None, Some("0"), DATE), None);
        assert_eq!(
            fresh(None, Some("Sat, 28 Nov 2026 09:00:00 GMT"), DATE),
            None
        );
        assert_eq!(fresh(None, None, DATE), None, "Date alone says nothing");
        // A numeric zone, as some servers write it.
        assert_eq!(
            fresh(None, Some("Sat, 28 Nov 2026 12:00:00 +0100"), DATE),
            Some(3600)
        );
    }

    #[test]
    fn age_is_taken_off() {
        assert_eq!(
            fresh_aged(Some("max-age=600"), None, None, Some("100")),
            Some(500)
        );
        assert_eq!(fresh_aged(None, IN_AN_HOUR, DATE, Some("600")), Some(3000));
        assert_eq!(
            fresh_aged(Some("max-age=600"), None, None, Some("900")),
            None
        );
    }

    #[test]
    fn s_maxage_counts_when_longer() {
        // A CDN's lifetime: the origin says nothing to browsers.
        assert_eq!(fresh(Some("public, s-maxage=300"), None, None), Some(300));
        assert_eq!(
            fresh_aged(Some("max-age=60, s-maxage=600"), None, None, Some("100")),
            Some(500)
        );
        assert_eq!(
            fresh(Some("max-age=600, s-maxage=60"), None, None),
            Some(600)
        );
        // A `private` response is not the CDN's, but this one client keeps it.
        assert_eq!(fresh(Some("private, max-age=600"), None, None), Some(600));
    }

    #[test]
    fn every_http_date_form_is_read() {
        // RFC 850 and asctime are HTTP dates too (RFC 9110, 5.6.7).
        assert_eq!(
            fresh(None, Some("Saturday, 28-Nov-26 11:00:00 GMT"), DATE),
            Some(3600)
        );
        assert_eq!(
            fresh(None, Some("Sat Nov 28 11:00:00 2026"), DATE),
            Some(3600)
        );
        assert_eq!(
            fresh(None, IN_AN_HOUR, Some("Sat Nov 28 10:30:00 2026")),
            Some(1800)
        );
        let date = |s| parse_http_date(s).map(httpdate::fmt_http_date);
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(
                date(form).as_deref(),
                Some("Sun, 06 Nov 1994 08:49:37 GMT"),
                "{form}"
            );
        }
        assert_eq!(date("yesterday"), None);
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO),
            "a date past is no wait"
        );
        assert_eq!(
            parse_retry_after("Wednesday, 21-Oct-15 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-5"), None);
        // A date ahead, in each form: about that long (the clock moves on
        // between writing and reading it).
        let ahead = SystemTime::now() + Duration::from_secs(600);
        let imf = httpdate::fmt_http_date(ahead);
        let rfc850 = chrono::DateTime::<chrono::Utc>::from(ahead)
            .format("%A, %d-%b-%y %H:%M:%S GMT")
            .to_string();
        let asctime = chrono::DateTime::<chrono::Utc>::from(ahead)
            .format("%a %b %e %H:%M:%S %Y")
            .to_string();
        for value in [imf, rfc850, asctime] {
            let wait = parse_retry_after(&value).unwrap_or_else(|| panic!("{value}"));
            assert!(
                (Duration::from_secs(595)..=Duration::from_secs(600)).contains(&wait),
                "{value}: {wait:?}"
            );
        }
    }
}
