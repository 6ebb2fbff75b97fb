//! A page that stands in for the article: an anti-bot challenge or a
//! consent wall, told apart from an article page that merely carries the
//! same scripts. The rule: a page is an interstitial only when the
//! extractor found no article on it (under [`NO_ARTICLE_WORDS`] words) AND
//! it carries
//! - a challenge vendor's challenge-page marker (not its site-wide script:
//!   Cloudflare's `challenge-platform` script is on ordinary pages too), or
//! - a consent wall's marks: served from a consent host or path, or a
//!   consent manager's script with either no text at all or text about
//!   cookies and consent.
//!
//! On a page with an article neither counts, whatever scripts it loads.

use crate::text::truncate_at_char_boundary;

/// What stands in for the article.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Interstitial {
    Challenge,
    ConsentWall,
}

/// Fewer words than this and the page has no article (a short news brief
/// has more; a challenge or a consent notice has fewer).
pub const NO_ARTICLE_WORDS: usize = 120;

/// Only the start of the page is searched for markers: they are scripts and
/// forms near the top, and the page may be megabytes long.
const MARKER_SCAN_BYTES: usize = 512 * 1024;

/// Markup only challenge pages carry (Cloudflare's challenge options,
/// DataDome's CAPTCHA frame, HUMAN/PerimeterX's CAPTCHA element).
const CHALLENGE_MARKERS: &[&str] = &[
    "_cf_chl_opt",
    "cf-browser-verification",
    "captcha-delivery.com",
    "px-captcha",
];

/// Consent managers' scripts and elements (IAB TCF's API and the common
/// vendors), lower-cased.
const CONSENT_MANAGER_MARKERS: &[&str] = &[
    "__tcfapi",
    "onetrust",
    "optanon",
    "didomi",
    "sp_message",
    "qc-cmp2",
    "cookiebot",
    "usercentrics",
    "trustarc",
    "consentmanager",
    "cookielaw",
    "iubenda",
];

/// Words of a consent notice, lower-cased, in the languages of the walls
/// most often met (English, German, French, Italian, Spanish, Dutch).
const CONSENT_WORDS: &[&str] = &[
    "cookie",
    "consent",
    "zustimm",
    "einwillig",
    "consentement",
    "consenso",
    "consentimiento",
    "toestemming",
];

/// Whether the page was served from a consent host (`consent.…`) or a
/// `/consent` path: where a site sends visitors it holds back.
fn consent_address(url: Option<&url::Url>) -> bool {
    let Some(url) = url else { return false };
    let host = url.host_str().is_some_and(|h| {
        h.split('.')
            .next()
            .is_some_and(|l| l.eq_ignore_ascii_case("consent"))
    });
    let path = url
        .path_segments()
        .is_some_and(|mut s| s.any(|seg| seg.eq_ignore_ascii_case("consent")));
    host || path
}

/// The interstitial `html` is, given the text the extractor found on it.
pub fn detect(
    html: &str,
    url: Option<&url::Url>,
    title: Option<&str>,
    text: &str,
) -> Option<Interstitial> {
    let words = text.split_whitespace().take(NO_ARTICLE_WORDS).count();
    if words >= NO_ARTICLE_WORDS {
        return None;
    }
    let head = truncate_at_char_boundary(html, MARKER_SCAN_BYTES);
    if CHALLENGE_MARKERS.iter().any(|m| head.contains(m)) {
        return Some(Interstitial::Challenge);
    }
    if consent_address(url) {
        return Some(Interstitial::ConsentWall);
    }
    let head = head.to_ascii_lowercase();
    if !CONSENT_MANAGER_MARKERS.iter().any(|m| head.contains(m)) {
        return None;
    }
    let notice = format!("{} {text}", title.unwrap_or_default()).to_lowercase();
    let about_consent = CONSENT_WORDS.iter().any(|w| notice.contains(w));
    (words == 0 || about_consent).then_some(Interstitial::ConsentWall)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CMP: &str =
        r#"<script src="https://cdn.cookielaw.org/scripttemplates/otSDKStub.js"></script>"#;

    fn url(u: &str) -> url::Url {
        url::Url::parse(u).unwrap()
    }

    #[test]
    fn challenge_pages_by_their_markup() {
        let cf = r#"<html><head><title>Just a moment...</title></head><body>
            <script>window._cf_chl_opt={cvId:'3'};</script></body></html>"#;
        assert_eq!(
            detect(
                cf,
                None,
                Some("Just a moment..."),
                "Enable JavaScript and cookies to continue"
            ),
            Some(Interstitial::Challenge)
        );
        let dd =
            r#"<iframe src="https://geo.captcha-delivery.com/captcha/?initialCid=x"></iframe>"#;
        assert_eq!(detect(dd, None, None, ""), Some(Interstitial::Challenge));
        let px = r#"<div id="px-captcha"></div>"#;
        assert_eq!(detect(px, None, None, ""), Some(Interstitial::Challenge));
        // Cloudflare's site-wide script on an empty page is not a challenge.
        let plain = r#"<script src="/cdn-cgi/challenge-platform/scripts/jsd/main.js"></script>"#;
        assert_eq!(detect(plain, None, None, ""), None);
    }

    #[test]
    fn an_article_is_never_an_interstitial() {
        let article = "The council voted on Tuesday to approve the lanes. ".repeat(20);
        let page = format!("<script>window._cf_chl_opt={{}}</script>{CMP}<p>{article}</p>");
        let consent = url("https://consent.example.com/collect");
        assert_eq!(detect(&page, Some(&consent), None, &article), None);
    }

    #[test]
    fn consent_walls() {
        let notice = "We and our partners use cookies to store and access information \
                      on your device. Accept all. Reject all. Manage settings.";
        // Served from a consent host or path, whatever the page holds.
        let host = url("https://consent.news.example/v2/collectConsent?sessionId=1");
        assert_eq!(
            detect("<form></form>", Some(&host), None, notice),
            Some(Interstitial::ConsentWall)
        );
        let path = url("https://news.example/consent?return=/a");
        assert_eq!(
            detect("", Some(&path), None, ""),
            Some(Interstitial::ConsentWall)
        );
        // A consent manager and a notice (German too), or no text at all.
        let article_url = url("https://news.example/2026/a");
        let page = format!("<html><head>{CMP}</head><body><p>{notice}</p></body></html>");
        assert_eq!(
            detect(&page, Some(&article_url), None, notice),
            Some(Interstitial::ConsentWall)
        );
        let de = "Wir brauchen Ihre Zustimmung. Alle akzeptieren.";
        assert_eq!(
            detect(&page, Some(&article_url), None, de),
            Some(Interstitial::ConsentWall)
        );
        assert_eq!(
            detect(&page, Some(&article_url), None, ""),
            Some(Interstitial::ConsentWall)
        );
        // A short brief on a page with a consent manager is a short brief.
        let brief = "The bridge reopened on Monday after repairs.";
        assert_eq!(detect(&page, Some(&article_url), None, brief), None);
        // A notice without a consent manager or consent address is text.
        assert_eq!(detect("<p>x</p>", Some(&article_url), None, notice), None);
        // An article about consent is not a wall.
        let about = url("https://news.example/consent-law-passes");
        assert_eq!(detect("", Some(&about), None, ""), None);
    }
}
