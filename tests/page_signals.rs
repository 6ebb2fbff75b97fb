//! What a page says besides its text, end to end (the real binary, an
//! in-process HTTP server, RabbitMQ on 127.0.0.1:5672): its language,
//! declared or detected; its paywall; and a site that answers with a
//! challenge or a consent wall instead of the article (named, counted, the
//! host left alone, the feed's text published).

mod common;

use std::path::Path;

use common::{RSS, Received, Route, Setup, TestServer, stderr};
use serde_json::Value;

/// The feed's summary of every story: what a blocked story is published with.
const SUMMARY: &str = "Residents of a small harbour town have voted to rebuild the sea wall that failed during last winter's storms.";

const TITLE: &str = "Harbour town votes to rebuild its sea wall";

/// A feed of these stories, each with its title and [`SUMMARY`].
fn feed(server: &TestServer, stories: &[(&str, &str)]) -> String {
    let items: String = stories
        .iter()
        .map(|(path, title)| {
            format!(
                "<item><title>{title}</title><link>{}</link><description>{SUMMARY}</description></item>",
                server.url(path)
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Signals</title>{items}</channel></rss>"
    )
}

fn article(html_attrs: &str, head: &str, paragraphs: &[&str]) -> String {
    let body: String = paragraphs.iter().map(|p| format!("<p>{p}</p>")).collect();
    format!(
        "<!doctype html><html{html_attrs}><head><title>Story</title>{head}</head>\
         <body><article><h1>Story</h1>{body}</article></body></html>"
    )
}

const FRENCH: &[&str] = &[
    "Les habitants de la petite ville portuaire ont voté mardi pour reconstruire la digue emportée par les tempêtes de l'hiver dernier.",
    "Le conseil municipal a promis que les travaux commenceraient au printemps, si le département accepte d'en payer la moitié.",
];
const GERMAN: &[&str] = &[
    "Die Bewohner der kleinen Hafenstadt haben am Dienstag beschlossen, die im letzten Winter von Stürmen zerstörte Ufermauer wieder aufzubauen.",
    "Der Gemeinderat versprach, dass die Arbeiten im Frühjahr beginnen, wenn der Landkreis die Hälfte der Kosten übernimmt.",
];
const TEASER: &[&str] = &[
    "The harbour town's council met on Tuesday night to decide the future of the sea wall, and the vote was closer than anyone expected.",
    "Subscribers can read how each councillor voted, and what the engineers told them about the cost of the work.",
];

fn validator() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/article.v1.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn by_path<'a>(messages: &'a [Received], server: &TestServer, path: &str) -> &'a Value {
    let url = server.url(path);
    &messages
        .iter()
        .find(|m| m.body["url"] == url.as_str())
        .unwrap_or_else(|| panic!("no message for {url}"))
        .body
}

#[tokio::test(flavor = "multi_thread")]
async fn language_declared_or_detected_and_the_paywall_flag() {
    let server = TestServer::start().await;
    let stories = [
        ("/s/declared", "La ville vote la reconstruction de la digue"),
        (
            "/s/detected",
            "Hafenstadt stimmt für den Wiederaufbau der Ufermauer",
        ),
        ("/s/paywalled", TITLE),
    ];
    server.route("/feed.xml", Route::ok(RSS, feed(&server, &stories)));
    server.route(
        "/s/declared",
        Route::ok("text/html", article(" lang=\"fr-fr\"", "", FRENCH)),
    );
    server.route(
        "/s/detected",
        Route::ok("text/html", article("", "", GERMAN)),
    );
    let paywall = r#"<script type="application/ld+json">{"@context":"https://schema.org",
        "@type":"NewsArticle","headline":"Story","isAccessibleForFree":"False",
        "hasPart":{"@type":"WebPageElement","isAccessibleForFree":"False","cssSelector":".paywall"}}</script>"#;
    server.route(
        "/s/paywalled",
        Route::ok("text/html", article(" lang=\"en\"", paywall, TEASER)),
    );
    let setup = Setup::new("signals-lang", &[("signals", server.url("/feed.xml"))], "").await;
    setup.run_once().await;
    let messages = setup.capture.drain().await;
    assert_eq!(messages.len(), 3);
    let validator = validator();
    for m in &messages {
        let errors: Vec<String> = validator
            .iter_errors(&m.body)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:?} in {}", m.body);
    }

    let declared = by_path(&messages, &server, "/s/declared");
    assert_eq!(declared["language"], "fr-FR", "as declared, BCP 47 casing");
    assert_eq!(declared["language_source"], "declared");
    assert_eq!(declared["access"], "unknown");

    let detected = by_path(&messages, &server, "/s/detected");
    assert_eq!(detected["language"], "de");
    assert_eq!(detected["language_source"], "detected");

    let paywalled = by_path(&messages, &server, "/s/paywalled");
    assert_eq!(paywalled["access"], "paywalled");
    assert_eq!(paywalled["language"], "en");
    assert_eq!(paywalled["extraction"]["status"], "ok");
    assert!(paywalled["extraction"]["blocked_by"].is_null());
    assert_eq!(
        paywalled["text"],
        TEASER.join("\n\n"),
        "the teaser, as the page gave it"
    );
    setup.capture.delete().await;
}

/// A route with these headers and status, its body a challenge page.
fn challenged(status: u16, headers: &[(&str, &str)]) -> Route {
    let mut route = Route::ok(
        "text/html",
        "<html><head><title>Just a moment...</title></head><body>Checking your browser.</body></html>",
    );
    route.status = status;
    route.headers = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    route
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_of_blocked_fetch_is_named_counted_and_never_the_story() {
    let server = TestServer::start().await;
    let kinds = [
        ("/s/cloudflare", "cloudflare_challenge"),
        ("/s/aws", "aws_waf_challenge"),
        ("/s/datadome", "datadome"),
        ("/s/challenge", "challenge_page"),
        ("/s/consent", "consent_wall"),
    ];
    let mut stories: Vec<(&str, &str)> = kinds.iter().map(|(p, _)| (*p, TITLE)).collect();
    stories.push(("/s/fine", TITLE));
    server.route("/feed.xml", Route::ok(RSS, feed(&server, &stories)));
    server.route(
        "/s/cloudflare",
        challenged(403, &[("cf-mitigated", "challenge")]),
    );
    server.route(
        "/s/aws",
        challenged(405, &[("x-amzn-waf-action", "captcha")]),
    );
    server.route(
        "/s/datadome",
        challenged(403, &[("x-datadome", "protected")]),
    );
    // Served 200 and named by their markup alone.
    server.route(
        "/s/challenge",
        Route::ok(
            "text/html",
            "<html lang=\"de\"><head><title>Just a moment...</title></head><body>\
             <p>Checking your browser before accessing the site.</p>\
             <script>window._cf_chl_opt={cvId:'3',cType:'managed'};</script></body></html>",
        ),
    );
    server.route(
        "/s/consent",
        Route::ok(
            "text/html",
            "<html lang=\"de\"><head><title>Before you continue</title>\
             <script src=\"https://cdn.cookielaw.org/scripttemplates/otSDKStub.js\"></script></head>\
             <body><div class=\"wall\"><p>We and our partners use cookies to store and access \
             information on your device, for ads and content measurement.</p>\
             <button>Accept all</button><button>Reject all</button></div></body></html>",
        ),
    );
    // The same host's article, and a protected site's ordinary page.
    let mut fine = Route::ok("text/html", article(" lang=\"en\"", "", TEASER));
    fine.headers.push(("x-datadome".into(), "protected".into()));
    server.route("/s/fine", fine);
    // Every story is on one host, fetched at once: a block would make the
    // others fail without a request (tested below), so it lasts no time here.
    let setup = Setup::new(
        "signals-blocked",
        &[("signals", server.url("/feed.xml"))],
        "blocked_pause = \"0s\"\n",
    )
    .await;
    let output = setup.run_once().await;
    let log = stderr(&output);
    let messages = setup.capture.drain().await;
    assert_eq!(messages.len(), stories.len(), "{log}");
    let validator = validator();
    for (path, kind) in kinds {
        let m = by_path(&messages, &server, path);
        assert!(validator.is_valid(m), "{m}");
        assert_eq!(m["extraction"]["status"], "blocked", "{path}");
        assert_eq!(m["extraction"]["blocked_by"], kind, "{path}");
        assert_eq!(m["extraction"]["method"], "feed_summary");
        assert_eq!(
            m["text"], SUMMARY,
            "{path}: the feed's text, not the wall's"
        );
        assert_eq!(m["title"], TITLE);
        // Detected from the feed's English, not the wall's `lang="de"`.
        assert_eq!(m["language"], "en", "{path}");
        assert_eq!(m["language_source"], "detected");
        assert_eq!(m["access"], "unknown");
        assert_eq!(
            server.hits(path),
            1,
            "{path}: a block is not retried at once"
        );
    }
    let fine = by_path(&messages, &server, "/s/fine");
    assert_eq!(fine["extraction"]["status"], "ok");
    assert!(fine["extraction"]["blocked_by"].is_null());
    assert!(
        log.contains("blocked 5 (aws_waf_challenge 1, challenge_page 1, cloudflare_challenge 1, consent_wall 1, datadome 1)"),
        "counted by kind: {log}"
    );
    setup.capture.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blocked_host_is_left_alone() {
    let server = TestServer::start().await;
    server.route(
        "/feed.xml",
        Route::ok(RSS, feed(&server, &[("/s/1", TITLE)])),
    );
    server.route(
        "/s/1",
        Route::ok("text/html", article(" lang=\"en\"", "", TEASER)),
    );
    // The site challenges the robots.txt request, which always comes
    // before the page's.
    server.route(
        "/robots.txt",
        challenged(403, &[("cf-mitigated", "challenge")]),
    );
    let setup = Setup::new(
        "signals-left-alone",
        &[("signals", server.url("/feed.xml"))],
        "blocked_pause = \"1h\"\nrespect_robots_txt = true\n",
    )
    .await;
    let output = setup.run_once().await;
    let messages = setup.capture.drain().await;
    assert_eq!(messages.len(), 1);
    let m = &messages[0].body;
    assert_eq!(m["extraction"]["status"], "blocked");
    assert_eq!(m["extraction"]["blocked_by"], "cloudflare_challenge");
    assert_eq!(server.hits("/robots.txt"), 1);
    assert_eq!(
        server.hits("/s/1"),
        0,
        "the blocked host was not asked again"
    );
    assert!(
        stderr(&output).contains("blocked 1 (cloudflare_challenge 1)"),
        "{}",
        stderr(&output)
    );
    setup.capture.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blocked_update_never_replaces_the_published_page_text() {
    let server = TestServer::start().await;
    server.route(
        "/feed.xml",
        Route::ok(RSS, feed(&server, &[("/s/1", TITLE)])),
    );
    server.route(
        "/s/1",
        Route::ok("text/html", article(" lang=\"en\"", "", TEASER)),
    );
    let setup = Setup::new(
        "signals-update",
        &[("signals", server.url("/feed.xml"))],
        "blocked_pause = \"1s\"\n",
    )
    .await;
    setup.run_once().await;
    let first = setup.capture.drain().await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].body["extraction"]["status"], "ok");

    // The feed edits the story; the site now answers with a challenge.
    let edited = feed(
        &server,
        &[("/s/1", "Harbour town votes again on its sea wall")],
    );
    server.route("/feed.xml", Route::ok(RSS, edited));
    server.route("/s/1", challenged(403, &[("cf-mitigated", "challenge")]));
    let output =
        common::feedwire(&["run", "--once", "--config", setup.config.to_str().unwrap()]).await;
    assert_eq!(
        output.status.code(),
        Some(3),
        "the update waits: {}",
        stderr(&output)
    );
    assert!(
        setup.capture.drain().await.is_empty(),
        "no revision with the feed's text replaces the page's"
    );
    setup.capture.delete().await;
}
