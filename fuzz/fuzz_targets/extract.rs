//! Bytes → decode_html → extract must never panic, whatever the bytes.
//! The first byte picks a page URL (none, a site-rule host, a plain host) so
//! the site-rule path is exercised as well as JSON-LD and Readability.
#![no_main]

use libfuzzer_sys::fuzz_target;

const URLS: &[&str] = &[
    "https://www.bbc.com/news/articles/x",
    "https://www.theguardian.com/world/2024/jan/01/x",
    "https://example.org/a/b",
];

fuzz_target!(|data: &[u8]| {
    let (url, body) = match data.split_first() {
        Some((&b, rest)) if (b as usize) < URLS.len() => {
            (url::Url::parse(URLS[b as usize]).ok(), rest)
        }
        Some((_, rest)) => (None, rest),
        None => (None, data),
    };
    let html = feedwire::extract::decode_html(body, None);
    let e = feedwire::extract::extract(&html, url.as_ref());
    assert!(!e.text.contains("\n\n\n"));
});
