//! Replay from the archive and backfill from the source, through the real
//! binary, the in-process HTTP server and the real broker.

mod common;

use std::collections::HashSet;
use std::path::Path;

use common::{Capture, Route, STORIES, TestServer, farm, feeds, feedwire, stderr, write_config};
use feedwire::replay::{ReplayOptions, ReplayTarget};
use feedwire::store::{SqliteStore, Store};
use lapin::types::{AMQPValue, ShortString};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `feedwire replay --routing-key replay.consumer-b` with `extra` flags.
async fn replay_to_b(config: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "replay",
        "--config",
        arg(config),
        "--routing-key",
        "replay.consumer-b",
    ];
    args.extend_from_slice(extra);
    let output = feedwire(&args).await;
    assert!(output.status.success(), "{}", stderr(&output));
    output
}

fn is_replay(m: &common::Received) -> bool {
    m.properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get("x-feedwire-replay").cloned())
        == Some(AMQPValue::Boolean(true))
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_sends_the_archive_once_to_the_named_key_only() {
    let server = farm().await;
    let capture = Capture::with_binding("replay", Some("article.#")).await;
    let replayed = capture.add_queue("replayed", "replay.consumer-b").await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &capture.exchange, &feeds(&server), "");
    let output = feedwire(&["run", "--once", "--config", arg(&config)]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let live = capture.drain().await;
    assert_eq!(live.len(), STORIES.len());

    // Dry run: counts, sends nothing.
    let output = feedwire(&["replay", "--config", arg(&config), "--dry-run"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains(&format!("would publish {} of", STORIES.len())));
    assert!(capture.drain_named(&replayed).await.is_empty());

    replay_to_b(&config, &[]).await;
    let again = capture.drain_named(&replayed).await;
    assert_eq!(
        again.len(),
        STORIES.len(),
        "every archived story exactly once"
    );
    assert!(
        capture.drain().await.is_empty(),
        "nothing went to the live routing keys"
    );
    // Original message ids, in publishing (confirm) order, marked as replay.
    let archive_order: Vec<Option<ShortString>> = {
        let store = SqliteStore::open(&dir.path().join("state.db")).unwrap();
        store
            .archived(0, None, None, 100)
            .await
            .unwrap()
            .iter()
            .map(|m| Some(ShortString::from(m.envelope.message_id.as_str())))
            .collect()
    };
    let live_ids: HashSet<_> = live
        .iter()
        .map(|m| m.properties.message_id().clone())
        .collect();
    let replayed_ids: Vec<_> = again
        .iter()
        .map(|m| m.properties.message_id().clone())
        .collect();
    assert_eq!(replayed_ids, archive_order);
    assert_eq!(
        replayed_ids.iter().cloned().collect::<HashSet<_>>(),
        live_ids
    );
    assert!(again.iter().all(is_replay));
    assert!(again.iter().all(|m| m.routing_key == "replay.consumer-b"));
    let first_live = live
        .iter()
        .find(|m| m.properties.message_id() == again[0].properties.message_id())
        .unwrap();
    assert_eq!(
        again[0].body, first_live.body,
        "the archived body is sent as it was"
    );

    // Filters: a future --since sends nothing; --feed keeps one feed.
    replay_to_b(&config, &["--since", "2999-01-01"]).await;
    assert!(capture.drain_named(&replayed).await.is_empty());
    replay_to_b(&config, &["--feed", "tech"]).await;
    let tech = capture.drain_named(&replayed).await;
    assert_eq!(tech.len(), 2);
    assert!(tech.iter().all(|m| m.body["feed"]["id"] == "tech"));

    // A replay interrupted after its fourth message resumes after it.
    let options = ReplayOptions {
        feeds: vec![],
        since: None,
        until: None,
        ids: None,
        target: ReplayTarget::RoutingKey("replay.consumer-b".into()),
        rate: None,
    };
    {
        let store = SqliteStore::open(&dir.path().join("state.db")).unwrap();
        let archive = store.archived(0, None, None, 100).await.unwrap();
        store
            .save_replay_position(&options.resume_key(), Some(archive[3].seq))
            .await
            .unwrap();
    }
    let output = replay_to_b(&config, &[]).await;
    assert!(
        stdout(&output).contains("resumed after"),
        "{}",
        stdout(&output)
    );
    let rest = capture.drain_named(&replayed).await;
    let rest_ids: Vec<_> = rest
        .iter()
        .map(|m| m.properties.message_id().clone())
        .collect();
    assert_eq!(rest_ids, archive_order[4..].to_vec());
    // Finished: the same command starts over next time.
    replay_to_b(&config, &[]).await;
    assert_eq!(capture.drain_named(&replayed).await.len(), STORIES.len());

    // `store stats` sees the archive.
    let output = feedwire(&["store", "stats", "--config", arg(&config)]).await;
    assert!(
        stdout(&output).contains(&format!("archive        {} messages", STORIES.len())),
        "{}",
        stdout(&output)
    );
    capture.delete().await;
}

fn story_page(n: usize) -> String {
    format!(
        "<html><head><title>Archive story {n}</title></head><body><article><h1>Archive story {n}</h1>\
         <p>Archived story number {n} begins with a paragraph long enough to be taken for the article's own text.</p>\
         <p>Its second paragraph of story {n} carries on, so that the extractor finds a real body here.</p>\
         </article></body></html>"
    )
}

fn atom_page(server: &TestServer, stories: std::ops::Range<usize>, links: &str) -> String {
    let entries: String = stories
        .map(|n| {
            format!(
                "<entry><id>urn:archive:{n}</id><title>Archive story {n}</title><link href=\"{}\"/>\
                 <updated>2026-0{}-10T10:00:00Z</updated></entry>",
                server.url(&format!("/archive/{n}")),
                1 + n / 3
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Paged</title><id>urn:paged</id>{links}{entries}</feed>"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn backfill_follows_pages_and_archives_and_the_worker_sends_nothing_again() {
    let server = TestServer::start().await;
    for n in 0..9 {
        server.route(
            &format!("/archive/{n}"),
            Route::ok("text/html", story_page(n)),
        );
    }
    let atom = "application/atom+xml";
    server.route(
        "/feeds/paged-1.xml",
        Route::ok(
            atom,
            atom_page(
                &server,
                6..9,
                &format!(
                    "<link rel=\"next\" href=\"{}\"/>",
                    server.url("/feeds/paged-2.xml")
                ),
            ),
        ),
    );
    server.route(
        "/feeds/paged-2.xml",
        Route::ok(
            atom,
            atom_page(
                &server,
                3..6,
                "<link rel=\"prev-archive\" href=\"/feeds/archive-2025.xml\"/>",
            ),
        ),
    );
    server.route(
        "/feeds/archive-2025.xml",
        Route::ok(atom, atom_page(&server, 0..3, "")),
    );
    let capture = Capture::new("backfill").await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &capture.exchange,
        &[("paged", server.url("/feeds/paged-1.xml"))],
        "",
    );
    let output = feedwire(&["backfill", "--config", arg(&config), "--feed", "paged"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let messages = capture.drain().await;
    let urls: HashSet<String> = messages
        .iter()
        .map(|m| m.body["url"].as_str().unwrap().to_string())
        .collect();
    let expected: HashSet<String> = (0..9)
        .map(|n| server.url(&format!("/archive/{n}")))
        .collect();
    assert_eq!(urls, expected);
    assert_eq!(messages.len(), 9, "each story once");
    assert!(messages.iter().all(|m| m.routing_key == "article.paged"));

    // The live worker sees page 1 and publishes nothing new; a second
    // backfill publishes nothing either.
    let output = feedwire(&["run", "--once", "--config", arg(&config)]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let output = feedwire(&[
        "backfill",
        "--config",
        arg(&config),
        "--feed",
        "paged",
        "--since",
        "2026-03-01",
    ])
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(capture.drain().await.is_empty());
    capture.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn backfill_walks_a_gzipped_sitemap_index() {
    use std::io::Write;
    let server = TestServer::start().await;
    for n in 0..5 {
        server.route(
            &format!("/archive/{n}"),
            Route::ok("text/html", story_page(n)),
        );
    }
    let urlset = |range: std::ops::Range<usize>| {
        let urls: String = range
            .map(|n| {
                format!(
                    "<url><loc>{}?at_medium=RSS</loc><news:news><news:publication_date>2026-04-1{n}T08:00:00Z</news:publication_date>\
                     <news:title>Archive story {n}</news:title></news:news></url>",
                    server.url(&format!("/archive/{n}"))
                )
            })
            .collect();
        format!(
            "<?xml version=\"1.0\"?><urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\" \
             xmlns:news=\"http://www.google.com/schemas/sitemap-news/0.9\">{urls}</urlset>"
        )
    };
    server.route(
        "/sitemap.xml",
        Route::ok(
            "application/xml",
            format!(
                "<?xml version=\"1.0\"?><sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\
                 <sitemap><loc>{}</loc></sitemap><sitemap><loc>/sitemap-2.xml.gz</loc></sitemap></sitemapindex>",
                server.url("/sitemap-1.xml")
            ),
        ),
    );
    server.route("/sitemap-1.xml", Route::ok("application/xml", urlset(0..3)));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(urlset(2..5).as_bytes()).unwrap(); // story 2 is in both sitemaps
    server.route(
        "/sitemap-2.xml.gz",
        Route::ok("application/gzip", gz.finish().unwrap()),
    );

    // The live feed lists the same stories, with tracking parameters.
    let items: String = (0..5)
        .map(|n| {
            format!(
                "<item><title>Archive story {n}</title><link>{}?at_campaign=rss</link></item>",
                server.url(&format!("/archive/{n}"))
            )
        })
        .collect();
    server.route(
        "/feeds/live.xml",
        Route::ok(
            "application/rss+xml",
            format!("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Live</title>{items}</channel></rss>"),
        ),
    );
    let capture = Capture::new("sitemap").await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &capture.exchange,
        &[("live", server.url("/feeds/live.xml"))],
        "",
    );
    let sitemap = server.url("/sitemap.xml");
    let output = feedwire(&[
        "backfill",
        "--config",
        arg(&config),
        "--sitemap",
        &sitemap,
        "--feed",
        "news-archive",
    ])
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let messages = capture.drain().await;
    assert_eq!(
        messages.len(),
        5,
        "five stories, the one in both sitemaps once"
    );
    let story2 = messages
        .iter()
        .find(|m| m.body["url"] == server.url("/archive/2").as_str())
        .expect("story 2 published");
    assert_eq!(story2.body["title"], "Archive story 2");
    assert_eq!(story2.body["published_at"], "2026-04-12T08:00:00Z");
    assert_eq!(story2.routing_key, "article.news-archive");

    let output = feedwire(&[
        "backfill",
        "--config",
        arg(&config),
        "--sitemap",
        &sitemap,
        "--feed",
        "news-archive",
    ])
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(capture.drain().await.is_empty());
    capture.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn backfill_of_a_file_dedups_against_what_the_live_worker_sent() {
    let server = farm().await;
    let capture = Capture::new("file").await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &capture.exchange, &feeds(&server), "");
    let output = feedwire(&["run", "--once", "--config", arg(&config)]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(capture.drain().await.len(), STORIES.len());

    // The same stories in a captured file: nothing new. One extra item: one message.
    let captured = std::fs::read_to_string(common::fixture_path("feeds/bbc-world.xml"))
        .unwrap()
        .replace("{BASE}", &server.base);
    let file = dir.path().join("captured.xml");
    std::fs::write(&file, &captured).unwrap();
    let output = feedwire(&[
        "backfill",
        "--config",
        arg(&config),
        "--file",
        arg(&file),
        "--feed",
        "world",
    ])
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        capture.drain().await.is_empty(),
        "stories the worker sent were sent again"
    );

    server.route(
        "/news/articles/c0extra99",
        Route::ok("text/html", story_page(99)),
    );
    let extra = captured.replace(
        "</channel>",
        &format!(
            "<item><title>Archive story 99</title><link>{}</link><guid isPermaLink=\"false\">{}#1</guid></item></channel>",
            server.url("/news/articles/c0extra99"),
            server.url("/news/articles/c0extra99")
        ),
    );
    std::fs::write(&file, extra).unwrap();
    let output = feedwire(&[
        "backfill",
        "--config",
        arg(&config),
        "--file",
        arg(&file),
        "--feed",
        "world",
    ])
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let messages = capture.drain().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].body["url"],
        server.url("/news/articles/c0extra99")
    );
    assert_eq!(
        messages[0].properties.kind(),
        &Some(ShortString::from("article.created"))
    );
    capture.delete().await;
}
