//! Bytes → parse_feed must never panic, whatever the bytes, and what it
//! returns must be usable: item text renders without markup blow-up.
//! The first byte picks a Content-Type (none, one with a legacy charset,
//! JSON) and a base URL, so the charset and relative-link paths are
//! exercised as well as RSS, Atom, JSON Feed and the repairs.
#![no_main]

use libfuzzer_sys::fuzz_target;

const CONTENT_TYPES: &[Option<&str>] = &[
    None,
    Some("application/rss+xml; charset=windows-1252"),
    Some("application/feed+json"),
    Some("text/xml; charset=\"utf-16\""),
];

fuzz_target!(|data: &[u8]| {
    let (content_type, base, body) = match data.split_first() {
        Some((&b, rest)) => (
            CONTENT_TYPES[(b as usize) % CONTENT_TYPES.len()],
            (b & 0x80 != 0).then(|| url::Url::parse("https://example.org/feeds/a.xml").unwrap()),
            rest,
        ),
        None => (None, None, data),
    };
    if let Ok(feed) = feedwire::feed::parse_feed(body, content_type, base.as_ref()) {
        for item in &feed.items {
            for text in [&item.title, &item.summary].into_iter().flatten() {
                assert!(!text.contains("\n\n\n"), "{text:?}");
            }
            // What the pipeline renders from the item's own content.
            if let Some(html) = &item.content_html {
                let _ = feedwire::feed::html_to_text(html);
            }
        }
    }
});
