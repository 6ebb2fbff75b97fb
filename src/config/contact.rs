//! The contact in every request's `User-Agent`: where a site's operator can
//! reach whoever runs this worker (`fetch.contact_url`).

use serde::{Deserialize, Serialize};
use url::Url;

/// An `http(s)` or `mailto` URL with nothing in it that would break the
/// `User-Agent` comment it is sent in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContactUrl(Url);

impl ContactUrl {
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl TryFrom<String> for ContactUrl {
    type Error = String;

    fn try_from(text: String) -> Result<ContactUrl, String> {
        let url = Url::parse(text.trim()).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
        let reachable = match url.scheme() {
            "http" | "https" => url.host_str().is_some_and(|h| !h.is_empty()),
            "mailto" => url.path().contains('@'),
            _ => false,
        };
        if !reachable {
            return Err(format!(
                "`{text}` must be an http(s) URL with a host or a mailto: address"
            ));
        }
        // Parentheses would end the User-Agent comment early (RFC 9110 §5.6.5).
        if url.as_str().contains(['(', ')']) {
            return Err(format!("`{text}` must not contain parentheses"));
        }
        Ok(ContactUrl(url))
    }
}

impl From<ContactUrl> for String {
    fn from(url: ContactUrl) -> String {
        url.0.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_are_reachable_urls() {
        for good in [
            "https://news.example.org/bot",
            "http://example.org",
            "mailto:ops@example.org",
        ] {
            assert!(ContactUrl::try_from(good.to_string()).is_ok(), "{good}");
        }
        for bad in [
            "",
            "example.org",
            "ftp://example.org/",
            "mailto:nobody",
            "https://example.org/(bot)",
        ] {
            assert!(ContactUrl::try_from(bad.to_string()).is_err(), "{bad}");
        }
    }
}
