//! Polite and bounded polling, through the real binary: conditional GET,
//! body caps (a gzip bomb included), Retry-After on pages, and the SSRF
//! guard.

mod common;

use std::io::Write;

use common::{Route, Setup, TestServer, stderr};

const RSS: &str = "application/rss+xml";

fn one_item_feed(server: &TestServer, path: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Polite</title>\
         <item><title>Only story</title><link>{}</link><description>The feed's summary.</description></item>\
         </channel></rss>",
        server.url(path)
    )
}

fn page() -> String {
    "<html><body><article><h1>Only story</h1>\
     <p>The only story of this feed has a first paragraph that is long enough to be its text.</p>\
     <p>And a second paragraph, so the extractor is sure this is the article body.</p></article></body></html>"
        .into()
}

#[tokio::test(flavor = "multi_thread")]
async fn second_poll_is_conditional_and_304_costs_nothing() {
    let server = TestServer::start().await;
    let mut feed = Route::ok(RSS, one_item_feed(&server, "/s/1"));
    feed.headers.push(("ETag".into(), "\"v1\"".into()));
    server.route("/feed.xml", feed);
    server.route("/s/1", Route::ok("text/html", page()));
    let setup = Setup::new("conditional", &[("polite", server.url("/feed.xml"))], "").await;

    let first = setup.run_once().await;
    assert!(
        stderr(&first).contains("polls: 1 ok, 0 not modified"),
        "{}",
        stderr(&first)
    );
    let second = setup.run_once().await;
    assert!(
        stderr(&second).contains("polls: 0 ok, 1 not modified"),
        "the stored ETag was sent and the 304 understood: {}",
        stderr(&second)
    );
    assert_eq!(setup.capture.drain().await.len(), 1);
    assert_eq!(
        server.hits("/s/1"),
        1,
        "the page is fetched once, not on every poll"
    );
    setup.capture.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn body_caps_hold_for_plain_and_gzip_bombed_bodies() {
    let server = TestServer::start().await;
    // A feed that is small on the wire and 64 MB once decompressed.
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let padding = vec![b' '; 1024 * 1024];
    bomb.write_all(one_item_feed(&server, "/s/1").as_bytes())
        .unwrap();
    for _ in 0..64 {
        bomb.write_all(&padding).unwrap();
    }
    let mut bombed = Route::ok(RSS, bomb.finish().unwrap());
    bombed
        .headers
        .push(("Content-Encoding".into(), "gzip".into()));
    server.route("/bomb.xml", bombed);
    // A feed within its cap whose page is over the page cap.
    server.route(
        "/big-page.xml",
        Route::ok(RSS, one_item_feed(&server, "/s/big")),
    );
    server.route(
        "/s/big",
        Route::ok(
            "text/html",
            format!("<html><body>{}</body></html>", "x".repeat(300_000)),
        ),
    );
    let setup = Setup::new(
        "caps",
        &[
            ("bomb", server.url("/bomb.xml")),
            ("bigpage", server.url("/big-page.xml")),
        ],
        "max_feed_bytes = 1000000\nmax_page_bytes = 100000\n",
    )
    .await;
    let output = setup.run_once().await;
    let log = stderr(&output);
    assert!(
        log.contains("body larger than 1000000 bytes"),
        "the bomb stopped at the cap: {log}"
    );
    let messages = setup.capture.drain().await;
    assert_eq!(
        messages.len(),
        1,
        "the story with the oversized page is still published"
    );
    assert_eq!(messages[0].body["extraction"]["status"], "failed");
    assert_eq!(messages[0].body["text"], "The feed's summary.");
    assert_eq!(
        server.hits("/s/big"),
        1,
        "a page over the cap is not retried"
    );
    setup.capture.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_answering_503_with_retry_after_is_fetched_again() {
    let server = TestServer::start().await;
    server.route("/feed.xml", Route::ok(RSS, one_item_feed(&server, "/s/1")));
    let mut busy = Route::status(503);
    busy.headers.push(("Retry-After".into(), "1".into()));
    server.route("/s/1", busy);
    let setup = Setup::new("retryafter", &[("polite", server.url("/feed.xml"))], "").await;
    // The page recovers while the worker waits out Retry-After.
    let recovering = server.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        recovering.route("/s/1", Route::ok("text/html", page()));
    });
    let output = setup.run_once().await;
    let messages = setup.capture.drain().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].body["extraction"]["status"],
        "ok",
        "{}",
        stderr(&output)
    );
    assert_eq!(server.hits("/s/1"), 2);
    setup.capture.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn private_addresses_are_refused_unless_allowed() {
    let server = TestServer::start().await;
    server.route("/feed.xml", Route::ok(RSS, one_item_feed(&server, "/s/1")));
    let setup = Setup::new("ssrf", &[("local", server.url("/feed.xml"))], "").await;
    let text = std::fs::read_to_string(&setup.config).unwrap().replace(
        "allow_private_networks = true",
        "allow_private_networks = false",
    );
    std::fs::write(&setup.config, text).unwrap();
    let output = setup.run_once().await;
    assert!(stderr(&output).contains("blocked"), "{}", stderr(&output));
    assert_eq!(
        server.hits("/feed.xml"),
        0,
        "no request reached the loopback server"
    );
    assert!(setup.capture.drain().await.is_empty());
    setup.capture.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn robots_txt_disallow_keeps_the_page_unfetched() {
    let server = TestServer::start().await;
    server.route(
        "/feed.xml",
        Route::ok(RSS, one_item_feed(&server, "/private/1")),
    );
    server.route("/private/1", Route::ok("text/html", page()));
    server.route(
        "/robots.txt",
        Route::ok(
            "text/plain",
            "User-agent: *\nAllow: /\n\nUser-agent: feedwire\nDisallow: /private/\n",
        ),
    );
    let setup = Setup::new("robots", &[("polite", server.url("/feed.xml"))], "").await;
    setup.run_once().await;
    assert_eq!(server.hits("/private/1"), 0, "robots.txt said no");
    assert_eq!(server.hits("/robots.txt"), 1);
    let messages = setup.capture.drain().await;
    assert_eq!(
        messages.len(),
        1,
        "the story is still published, with the feed's summary"
    );
    assert_eq!(messages[0].body["extraction"]["status"], "failed");
    assert_eq!(messages[0].body["text"], "The feed's summary.");
    setup.capture.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_redirect_is_remembered() {
    let server = TestServer::start().await;
    let mut moved = Route::status(301);
    moved.headers.push(("Location".into(), "/new.xml".into()));
    server.route("/old.xml", moved);
    let mut temporary = Route::status(302);
    temporary
        .headers
        .push(("Location".into(), "/elsewhere.xml".into()));
    server.route("/temp.xml", temporary);
    server.route("/new.xml", Route::ok(RSS, one_item_feed(&server, "/s/1")));
    server.route(
        "/elsewhere.xml",
        Route::ok(RSS, one_item_feed(&server, "/s/2")),
    );
    server.route("/s/1", Route::ok("text/html", page()));
    server.route("/s/2", Route::ok("text/html", page()));
    let setup = Setup::new(
        "moved",
        &[
            ("moved", server.url("/old.xml")),
            ("temp", server.url("/temp.xml")),
        ],
        "",
    )
    .await;
    for _ in 0..2 {
        setup.run_once().await;
    }
    assert_eq!(
        server.hits("/old.xml"),
        1,
        "after a 301 the new URL is polled directly"
    );
    assert_eq!(server.hits("/new.xml"), 2);
    assert_eq!(server.hits("/temp.xml"), 2, "a 302 is not remembered");
    assert_eq!(setup.capture.drain().await.len(), 2);
    setup.capture.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_trickles_bytes_is_cut_off_by_the_timeout() {
    let server = TestServer::start().await;
    let mut slow = Route::ok(RSS, one_item_feed(&server, "/s/1"));
    slow.trickle = Some(std::time::Duration::from_millis(100));
    server.route("/slow.xml", slow);
    server.route("/fast.xml", Route::ok(RSS, one_item_feed(&server, "/s/2")));
    server.route("/s/2", Route::ok("text/html", page()));
    let setup = Setup::new(
        "trickle",
        &[
            ("slow", server.url("/slow.xml")),
            ("fast", server.url("/fast.xml")),
        ],
        "",
    )
    .await;
    let text = std::fs::read_to_string(&setup.config)
        .unwrap()
        .replace("\ntimeout = \"10s\"", "\ntimeout = \"1s\"");
    std::fs::write(&setup.config, text).unwrap();
    // The slow feed needs minutes to send; the run ends long before that.
    let output = setup.run_once().await;
    let log = stderr(&output);
    assert!(log.contains("timed out"), "{log}");
    assert!(
        log.contains("polls: 1 ok, 0 not modified, 1 failed"),
        "{log}"
    );
    assert_eq!(
        setup.capture.drain().await.len(),
        1,
        "the other feed is not held up"
    );
    setup.capture.delete().await;
}

/// A feed of `items` stories dated `gap` apart, the newest `age` ago, with
/// extra channel elements (`<ttl>`, `<skipHours>`, ...).
fn dated_feed(
    server: &TestServer,
    name: &str,
    channel: &str,
    dates: &[chrono::DateTime<chrono::Utc>],
) -> String {
    let items: String = dates
        .iter()
        .enumerate()
        .map(|(i, date)| {
            format!(
                "<item><title>{name} {i}</title><link>{}</link><pubDate>{}</pubDate></item>",
                server.url(&format!("/{name}/{i}")),
                date.to_rfc2822()
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>{name}</title>{channel}{items}</channel></rss>"
    )
}

/// Minutes from the poll to the next one the worker planned.
fn planned_minutes(state: &feedwire::store::FeedState) -> f64 {
    (state.next_due_ms - state.last_polled_ms.unwrap()) as f64 / 60_000.0
}

#[tokio::test(flavor = "multi_thread")]
async fn the_next_poll_follows_pace_hints_bounds_and_skip_hours() {
    use chrono::{Duration, Timelike, Utc};
    let server = TestServer::start().await;
    let now = Utc::now();
    let undated = |name: &str| dated_feed(&server, name, "", &[]);
    // Stories every 20 minutes, the newest a minute old: polled every 10.
    let paced: Vec<_> = (0..6)
        .map(|i| now - Duration::minutes(1 + 20 * i))
        .collect();
    server.route(
        "/paced.xml",
        Route::ok(RSS, dated_feed(&server, "paced", "", &paced)),
    );
    server.route(
        "/ttl.xml",
        Route::ok(RSS, dated_feed(&server, "ttl", "<ttl>45</ttl>", &[])),
    );
    let mut cached = Route::ok(RSS, undated("cached"));
    cached
        .headers
        .push(("Cache-Control".into(), "public, max-age=1800".into()));
    server.route("/cached.xml", cached);
    let mut expires = Route::ok(RSS, undated("expires"));
    let in_two_hours = (now + Duration::hours(2)).format("%a, %d %b %Y %H:%M:%S GMT");
    expires
        .headers
        .push(("Expires".into(), in_two_hours.to_string()));
    server.route("/expires.xml", expires);
    server.route(
        "/pinned.xml",
        Route::ok(RSS, dated_feed(&server, "pinned", "<ttl>45</ttl>", &[])),
    );
    // Skip this hour and the next three (GMT).
    let skip_hours: String = (0..4)
        .map(|h| format!("<hour>{}</hour>", (now.hour() + h) % 24))
        .collect();
    let skipping = dated_feed(
        &server,
        "skip",
        &format!("<skipHours>{skip_hours}</skipHours>"),
        &[],
    );
    server.route("/skip.xml", Route::ok(RSS, skipping));
    let feeds: String = ["paced", "ttl", "cached", "expires", "skip"]
        .iter()
        .map(|id| {
            format!(
                "[[feeds]]\nid = \"{id}\"\nurl = \"{}\"\n",
                server.url(&format!("/{id}.xml"))
            )
        })
        .chain([format!(
            "[[feeds]]\nid = \"pinned\"\nurl = \"{}\"\ninterval = \"1m\"\n",
            server.url("/pinned.xml")
        )])
        .collect();
    let setup =
        Setup::with_feeds_toml("schedule", &feeds, "[pipeline]\nfetch_full_text = false\n").await;
    setup.run_once().await;

    for (id, minutes) in [
        ("paced", 10.0),
        ("ttl", 45.0),
        ("cached", 30.0),
        ("expires", 120.0),
        ("pinned", 1.0),
    ] {
        let planned = planned_minutes(&setup.feed_state(id).await);
        assert!(
            (minutes * 0.89..=minutes * 1.11).contains(&planned),
            "{id}: next poll in {planned:.2} min, expected {minutes} ±10%"
        );
    }
    let skip = setup.feed_state("skip").await;
    let after_skip = (now + Duration::hours(4))
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap();
    assert_eq!(
        skip.next_due_ms,
        after_skip.timestamp_millis(),
        "the poll moves to the end of the skipped hours"
    );
    setup.capture.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_feed_backs_off_then_recovers_on_its_own() {
    let server = TestServer::start().await;
    server.route("/feed.xml", Route::status(500));
    server.route("/s/1", Route::ok("text/html", page()));
    let setup = Setup::new("backoff", &[("flaky", server.url("/feed.xml"))], "").await;
    let mut waits = Vec::new();
    for failures in 1..=3 {
        setup.run_once().await;
        let state = setup.feed_state("flaky").await;
        assert_eq!(state.consecutive_failures, failures);
        waits.push(planned_minutes(&state));
    }
    // A 1-minute feed waits about 1, 2, then 4 minutes (±10% jitter).
    for (wait, expected) in waits.iter().zip([1.0, 2.0, 4.0]) {
        assert!(
            (expected * 0.89..=expected * 1.11).contains(wait),
            "waits {waits:?}"
        );
    }
    server.route("/feed.xml", Route::ok(RSS, one_item_feed(&server, "/s/1")));
    setup.run_once().await;
    let state = setup.feed_state("flaky").await;
    assert_eq!(state.consecutive_failures, 0);
    assert_eq!(state.last_error, None);
    assert!((0.89..=1.11).contains(&planned_minutes(&state)));
    assert_eq!(setup.capture.drain().await.len(), 1);
    setup.capture.delete().await;
}
