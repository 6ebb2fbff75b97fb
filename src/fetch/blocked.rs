//! Blocked fetches: an anti-bot challenge or a consent wall answered instead
//! of the page. Two of the kinds are named by the response's headers (here);
//! the page kinds are found by the extractor on a page with no article
//! (`extract::interstitial`) and mapped to a kind by the pipeline.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};

/// What stood between the worker and the page; the wire word is the
/// message's `extraction.blocked_by` and the metrics' `kind` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    /// Cloudflare's challenge page: `cf-mitigated: challenge`, the header
    /// Cloudflare documents as set on every challenge response.
    CloudflareChallenge,
    /// AWS WAF's challenge or CAPTCHA: `x-amzn-waf-action: challenge|captcha`.
    AwsWafChallenge,
    /// DataDome's block or CAPTCHA: `x-dd-b`, or `x-datadome` on a 401/403.
    /// (`x-datadome: protected` alone is on every response of a protected
    /// site, so it names nothing by itself.)
    Datadome,
    /// A challenge page named by its markup, with no article on it.
    ChallengePage,
    /// A consent wall with no article on it.
    ConsentWall,
}

impl BlockKind {
    pub const ALL: [BlockKind; 5] = [
        BlockKind::CloudflareChallenge,
        BlockKind::AwsWafChallenge,
        BlockKind::Datadome,
        BlockKind::ChallengePage,
        BlockKind::ConsentWall,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BlockKind::CloudflareChallenge => "cloudflare_challenge",
            BlockKind::AwsWafChallenge => "aws_waf_challenge",
            BlockKind::Datadome => "datadome",
            BlockKind::ChallengePage => "challenge_page",
            BlockKind::ConsentWall => "consent_wall",
        }
    }

    pub fn parse(text: &str) -> Option<BlockKind> {
        BlockKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The kind a response's headers name, whatever its status (Cloudflare
    /// answers 403 or 503, AWS WAF 202 or 405).
    pub fn from_headers(status: StatusCode, headers: &HeaderMap) -> Option<BlockKind> {
        let value = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_ascii_lowercase())
        };
        if value("cf-mitigated").as_deref() == Some("challenge") {
            return Some(BlockKind::CloudflareChallenge);
        }
        if matches!(
            value("x-amzn-waf-action").as_deref(),
            Some("challenge" | "captcha")
        ) {
            return Some(BlockKind::AwsWafChallenge);
        }
        let refused = matches!(status.as_u16(), 401 | 403);
        if headers.contains_key("x-dd-b") || (refused && headers.contains_key("x-datadome")) {
            return Some(BlockKind::Datadome);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn headers_name_the_kind() {
        let at = |status: u16, pairs: &[(&'static str, &'static str)]| {
            BlockKind::from_headers(StatusCode::from_u16(status).unwrap(), &headers(pairs))
        };
        assert_eq!(
            at(403, &[("cf-mitigated", "challenge")]),
            Some(BlockKind::CloudflareChallenge)
        );
        assert_eq!(
            at(200, &[("CF-Mitigated", "Challenge")]),
            Some(BlockKind::CloudflareChallenge)
        );
        // Only `challenge` is a challenge.
        assert_eq!(at(403, &[("cf-mitigated", "block")]), None);
        assert_eq!(
            at(405, &[("x-amzn-waf-action", "captcha")]),
            Some(BlockKind::AwsWafChallenge)
        );
        assert_eq!(
            at(202, &[("x-amzn-waf-action", "challenge")]),
            Some(BlockKind::AwsWafChallenge)
        );
        assert_eq!(
            at(403, &[("x-datadome", "protected")]),
            Some(BlockKind::Datadome)
        );
        assert_eq!(at(200, &[("x-dd-b", "1")]), Some(BlockKind::Datadome));
        // A protected site's ordinary page.
        assert_eq!(at(200, &[("x-datadome", "protected")]), None);
        assert_eq!(at(403, &[]), None);
        assert_eq!(at(200, &[("server", "cloudflare")]), None);
    }

    #[test]
    fn wire_words_round_trip() {
        for kind in BlockKind::ALL {
            assert_eq!(BlockKind::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, kind.as_str());
        }
    }
}
