//! Near-duplicates across sources end to end: a site republishes another's
//! stories under its own page chrome and URLs ("Source:" lines, captions,
//! related links); its messages point at the originals, and a story of its
//! own on the same topic does not.

mod common;

use std::path::Path;

use common::{RSS, Received, Route, Setup, TestServer};
use serde_json::Value;

const WORDS: &[&str] = &[
    "council",
    "harbour",
    "wall",
    "vote",
    "residents",
    "engineers",
    "storm",
    "tide",
    "budget",
    "million",
    "pounds",
    "mayor",
    "said",
    "would",
    "protect",
    "homes",
    "from",
    "flooding",
    "winter",
    "plans",
    "were",
    "approved",
    "after",
    "months",
    "of",
    "debate",
    "the",
    "a",
    "new",
    "older",
    "sea",
    "defences",
    "critics",
    "argued",
    "cost",
    "too",
    "high",
    "while",
    "supporters",
    "pointed",
    "to",
    "last",
    "year's",
    "damage",
    "along",
    "coast",
    "road",
    "closed",
    "twice",
    "businesses",
    "lost",
    "trade",
    "work",
    "begins",
    "in",
    "spring",
];

/// `paragraphs` paragraphs of made-up prose, the same for the same seed.
fn prose(seed: u64, paragraphs: usize) -> Vec<String> {
    let mut state = seed;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    (0..paragraphs)
        .map(|_| {
            let words: Vec<&str> = (0..45).map(|_| WORDS[next() % WORDS.len()]).collect();
            format!("{}.", words.join(" "))
        })
        .collect()
}

/// The original site's page.
fn original_page(title: &str, paragraphs: &[String]) -> String {
    let body: String = paragraphs.iter().map(|p| format!("<p>{p}</p>")).collect();
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><title>{title} - Origin News</title></head>\
         <body><header><nav><a href=\"/\">Home</a> <a href=\"/world\">World</a></nav></header>\
         <main><article><h1>{title}</h1>{body}</article></main>\
         <footer>Copyright Origin News</footer></body></html>"
    )
}

/// The same story on the republisher's site: its own template, a caption,
/// "Source:" lines between the paragraphs, related links at the end.
fn republished_page(title: &str, paragraphs: &[String]) -> String {
    let mut body = String::new();
    for (i, p) in paragraphs.iter().enumerate() {
        body.push_str(&format!("<p>{p}</p>"));
        if i == 1 {
            body.push_str(
                "<figure><img src=\"/wall.jpg\" alt=\"\"><figcaption>The harbour wall at \
                 high tide. Photo: agency</figcaption></figure>",
            );
        }
        if i % 3 == 2 {
            body.push_str("<p><strong>Source: Origin News</strong></p>");
        }
    }
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><title>{title} | The Aggregator</title></head>\
         <body><div class=\"topbar\"><a href=\"/\">The Aggregator</a> <a href=\"/login\">Log in</a></div>\
         <div class=\"layout\"><div class=\"post-content\"><h2 class=\"headline\">{title}</h2>{body}\
         <div class=\"related\"><h3>Related</h3><ul><li><a href=\"/x\">Ten things about tides</a></li>\
         <li><a href=\"/y\">Quiz of the week</a></li></ul></div></div>\
         <aside>Most read: <a href=\"/z\">Celebrity news</a></aside></div>\
         <div class=\"footer\">The Aggregator 2026</div></body></html>"
    )
}

fn rss(items: &[(String, &str)]) -> String {
    let items: String = items
        .iter()
        .map(|(link, title)| {
            format!(
                "<item><title>{title}</title><link>{link}</link><guid>{link}</guid>\
                 <description>{title}.</description></item>"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>{items}</channel></rss>"
    )
}

fn by_title<'a>(messages: &'a [Received], title: &str) -> &'a Value {
    &messages
        .iter()
        .find(|m| m.body["title"] == title)
        .unwrap_or_else(|| panic!("no message titled {title}"))
        .body
}

#[tokio::test(flavor = "multi_thread")]
async fn republished_stories_point_at_their_originals() {
    let server = TestServer::start().await;
    let stories = [
        ("Harbour wall approved", prose(1, 8)),
        ("Coast road to close", prose(2, 6)),
    ];
    let mut originals = Vec::new();
    let mut copies = Vec::new();
    for (i, (title, paragraphs)) in stories.iter().enumerate() {
        let (origin, copy) = (format!("/origin/{i}"), format!("/aggregator/story-{i}"));
        server.route(
            &origin,
            Route::ok("text/html", original_page(title, paragraphs)),
        );
        // The second copy is trimmed to its first two thirds.
        let kept = if i == 1 {
            paragraphs.len() * 2 / 3
        } else {
            paragraphs.len()
        };
        let page = republished_page(title, &paragraphs[..kept]);
        server.route(&copy, Route::ok("text/html", page));
        originals.push((server.url(&origin), *title));
        copies.push((server.url(&copy), *title));
    }
    // A story of the republisher's own on the same event, in other words.
    let own = "Harbour wall: what residents think";
    server.route(
        "/aggregator/own",
        Route::ok("text/html", republished_page(own, &prose(3, 7))),
    );
    copies.push((server.url("/aggregator/own"), own));
    server.route("/origin.xml", Route::ok(RSS, rss(&originals)));
    server.route("/aggregator.xml", Route::ok(RSS, rss(&[])));
    let feeds = [
        ("origin", server.url("/origin.xml")),
        ("aggregator", server.url("/aggregator.xml")),
    ];
    let setup = Setup::new("near-duplicates", &feeds, "").await;
    setup.run_once().await;
    let first = setup.capture.drain().await;
    assert_eq!(first.len(), 2);
    for message in &first {
        assert!(message.body["duplicate_of"].is_null(), "{}", message.body);
        assert_eq!(message.body["cluster"], message.body["id"]);
    }

    server.route("/aggregator.xml", Route::ok(RSS, rss(&copies)));
    setup.run_once().await;
    let second = setup.capture.drain().await;
    assert_eq!(second.len(), 3);
    for (title, _) in &stories {
        let original = by_title(&first, title);
        let copy = by_title(&second, title);
        assert_ne!(copy["id"], original["id"]);
        let duplicate_of = &copy["duplicate_of"];
        assert_eq!(duplicate_of["id"], original["id"], "{copy}");
        assert_eq!(duplicate_of["url"], original["url"]);
        assert!(duplicate_of["similarity"].as_f64().unwrap() >= 0.6);
        assert_eq!(copy["cluster"], original["id"]);
    }
    let own = by_title(&second, own);
    assert!(own["duplicate_of"].is_null(), "{own}");
    assert_eq!(own["cluster"], own["id"]);

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/article.v1.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for message in first.iter().chain(&second) {
        assert!(validator.is_valid(&message.body), "{}", message.body);
    }
}
