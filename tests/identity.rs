//! Story identity and updates end to end, through the real binary: stories
//! that only look alike stay apart, and the newest version of a story always
//! reaches the queue, whatever happened to the one before it.

mod common;

use common::{Capture, RSS, Received, Route, Setup, TestServer, feedwire, stderr};

/// An article page whose text is `words`.
fn page(title: &str, words: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><title>{title}</title></head><body>\
         <nav><a href=\"/\">Home</a></nav><article><h1>{title}</h1>\
         <p>{words} This paragraph is the article's own text, long enough to be taken for it.</p>\
         <p>A second paragraph follows, so that the page has a body worth extracting.</p>\
         </article></body></html>"
    )
}

/// An RSS document with `(guid, link, title, description)` items.
fn rss(items: &[(&str, &str, &str, &str)]) -> String {
    let items: String = items
        .iter()
        .map(|(guid, link, title, description)| {
            let guid = if guid.is_empty() {
                String::new()
            } else {
                format!("<guid isPermaLink=\"false\">{guid}</guid>")
            };
            let link = if link.is_empty() {
                String::new()
            } else {
                format!("<link>{link}</link>")
            };
            format!(
                "<item><title>{title}</title>{link}{guid}<description>{description}</description></item>"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title><link>http://x/</link>{items}</channel></rss>"
    )
}

fn titles(messages: &[Received]) -> Vec<String> {
    let mut titles: Vec<String> = messages
        .iter()
        .map(|m| m.body["title"].as_str().unwrap_or_default().to_string())
        .collect();
    titles.sort();
    titles
}

async fn run_once(setup: &Setup) -> std::process::Output {
    feedwire(&["run", "--once", "--config", setup.config.to_str().unwrap()]).await
}

/// Nine items that share links or guids but are nine stories: a status page's
/// incidents (one link, three guids), a live blog's posts (one page, two
/// fragments), and bare guids `1` and `2` on two sites.
#[tokio::test(flavor = "multi_thread")]
async fn colliding_items_are_nine_stories_and_stay_quiet() {
    let server = TestServer::start().await;
    let status = server.url("/status");
    let live = server.url("/live");
    server.route(
        "/status.xml",
        Route::ok(
            RSS,
            rss(&[
                ("incident-1", &status, "Incident 1", "Degraded API"),
                ("incident-2", &status, "Incident 2", "Login errors"),
                ("incident-3", &status, "Incident 3", "Resolved outage"),
            ]),
        ),
    );
    server.route(
        "/live.xml",
        Route::ok(
            RSS,
            rss(&[
                ("", &format!("{live}#post-1"), "Post 1", "First update"),
                ("", &format!("{live}#post-2"), "Post 2", "Second update"),
            ]),
        ),
    );
    for site in ["a", "b"] {
        let (one, two) = (format!("{site} story one"), format!("{site} story two"));
        let body = rss(&[("1", "", &one, "First."), ("2", "", &two, "Second.")]);
        server.route(&format!("/{site}.xml"), Route::ok(RSS, body));
    }
    server.route(
        "/status",
        Route::ok("text/html", page("Status", "All systems.")),
    );
    server.route(
        "/live",
        Route::ok("text/html", page("Live", "Live coverage.")),
    );
    let feeds = [
        ("status", server.url("/status.xml")),
        ("live", server.url("/live.xml")),
        ("site-a", server.url("/a.xml")),
        ("site-b", server.url("/b.xml")),
    ];
    let setup = Setup::new("colliding", &feeds, "").await;
    let output = run_once(&setup).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let messages = setup.capture.drain().await;
    let ids: std::collections::HashSet<&str> = messages
        .iter()
        .map(|m| m.body["id"].as_str().unwrap())
        .collect();
    assert_eq!(messages.len(), 9, "{:?}", titles(&messages));
    assert_eq!(ids.len(), 9);

    let output = run_once(&setup).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        setup.capture.drain().await.is_empty(),
        "a second poll of the same documents publishes nothing"
    );
}

/// The feed corrects a title while the story's first message cannot be
/// delivered (nothing is bound to its routing key yet): once it can, the
/// corrected title reaches the queue.
#[tokio::test(flavor = "multi_thread")]
async fn an_update_while_the_first_message_is_undelivered_is_published() {
    let server = TestServer::start().await;
    let story = server.url("/story");
    let feed = |title: &str| Route::ok(RSS, rss(&[("s-1", &story, title, "A summary.")]));
    server.route("/feed.xml", feed("Mayor resigns"));
    server.route(
        "/story",
        Route::ok("text/html", page("Mayor", "The mayor said so.")),
    );
    let capture = Capture::with_binding("late-binding", None).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(
        dir.path(),
        &capture.exchange,
        &[("city", server.url("/feed.xml"))],
        "",
    );
    let config = config.to_str().unwrap();
    let output = feedwire(&["run", "--once", "--config", config]).await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));

    server.route("/feed.xml", feed("Mayor resigns after vote"));
    let output = feedwire(&["run", "--once", "--config", config]).await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));

    capture.bind("article.#").await;
    let output = feedwire(&["run", "--once", "--config", config]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let messages = capture.drain().await;
    let last = messages.last().expect("messages were published");
    assert_eq!(
        last.body["title"],
        "Mayor resigns after vote",
        "{:?}",
        titles(&messages)
    );

    let output = feedwire(&["run", "--once", "--config", config]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(capture.drain().await.is_empty());
    capture.delete().await;
}

/// A story went out with its page's full text; the feed then edits its
/// summary while the page answers 503. No revision with the summary goes
/// out: the story waits, and its next revision has the page's text again.
#[tokio::test(flavor = "multi_thread")]
async fn a_failing_page_never_degrades_a_published_story() {
    let server = TestServer::start().await;
    let story = server.url("/story");
    let feed = |summary: &str| Route::ok(RSS, rss(&[("s-1", &story, "Harbour vote", summary)]));
    server.route("/feed.xml", feed("Residents vote."));
    server.route(
        "/story",
        Route::ok(
            "text/html",
            page("Harbour vote", "Residents backed the sea wall."),
        ),
    );
    let setup = Setup::new("no-degrade", &[("town", server.url("/feed.xml"))], "").await;
    setup.run_once().await;
    let first = setup.capture.drain().await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].body["extraction"]["status"], "ok");
    assert!(first[0].body["text"].as_str().unwrap().contains("sea wall"));

    server.route("/feed.xml", feed("Residents vote on Tuesday."));
    server.route("/story", Route::status(503));
    let output = run_once(&setup).await;
    assert_eq!(
        output.status.code(),
        Some(3),
        "the update waits: {}",
        stderr(&output)
    );
    assert!(
        setup.capture.drain().await.is_empty(),
        "no degraded revision"
    );

    server.route(
        "/story",
        Route::ok(
            "text/html",
            page("Harbour vote", "Residents backed the taller sea wall."),
        ),
    );
    setup.run_once().await;
    let second = setup.capture.drain().await;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].body["revision"], 2);
    assert_eq!(second[0].body["extraction"]["status"], "ok");
    assert!(
        second[0].body["text"]
            .as_str()
            .unwrap()
            .contains("taller sea wall")
    );
}

/// A description long enough for the text to decide between guids.
fn told(text: &str) -> String {
    format!("{text}: the story as the feed tells it, in words enough to decide.")
}

/// DW edits a title and the feed re-issues the item's guid with it, while
/// its link and text stay (miniflux#3120, #3390): the edit is an update of
/// the one story, not a second story.
#[tokio::test(flavor = "multi_thread")]
async fn a_guid_reissued_with_an_edited_title_updates_the_story() {
    let server = TestServer::start().await;
    let story = server.url("/a-71234");
    let text = told("Parliament votes on the harbour wall");
    let feed = |guid: &str, title: &str| Route::ok(RSS, rss(&[(guid, &story, title, &text)]));
    server.route("/dw.xml", feed("dw-1", "Harbour wall vote"));
    server.route(
        "/a-71234",
        Route::ok("text/html", page("Harbour", "Parliament voted.")),
    );
    let setup = Setup::new("guid-churn", &[("dw", server.url("/dw.xml"))], "").await;
    setup.run_once().await;
    let first = setup.capture.drain().await;
    assert_eq!(first.len(), 1);

    server.route("/dw.xml", feed("dw-2", "Harbour wall vote passes"));
    setup.run_once().await;
    let second = setup.capture.drain().await;
    assert_eq!(second.len(), 1, "{:?}", titles(&second));
    assert_eq!(second[0].body["id"], first[0].body["id"]);
    assert_eq!(second[0].body["revision"], 2);
    assert_eq!(second[0].body["title"], "Harbour wall vote passes");

    setup.run_once().await;
    assert!(setup.capture.drain().await.is_empty());
}

/// A feed that gives every item the same guid (NewsBlur#1470): each new
/// story, with its own link and text, is published; none is taken for an
/// edit of the one before.
#[tokio::test(flavor = "multi_thread")]
async fn a_guid_repeated_for_each_new_story_swallows_none() {
    let server = TestServer::start().await;
    let stories = [
        (
            "/one",
            "Harbour wall vote",
            "Parliament votes on the harbour wall",
        ),
        (
            "/two",
            "Storm closes schools",
            "A storm closes every school in the county",
        ),
        (
            "/three",
            "Museum reopens",
            "The museum reopens after a year of repairs",
        ),
    ];
    for (path, title, _) in stories {
        server.route(path, Route::ok("text/html", page(title, title)));
    }
    let setup = Setup::new("guid-repeated", &[("blog", server.url("/blog.xml"))], "").await;
    let mut ids = std::collections::HashSet::new();
    for (path, title, text) in stories {
        // The feed shows only its newest item, always under guid `latest`.
        let link = server.url(path);
        let body = rss(&[("latest", &link, title, &told(text))]);
        server.route("/blog.xml", Route::ok(RSS, body));
        setup.run_once().await;
        let messages = setup.capture.drain().await;
        assert_eq!(messages.len(), 1, "{title}: {:?}", titles(&messages));
        assert_eq!(messages[0].body["title"], title);
        assert_eq!(messages[0].body["revision"], 1, "{title} is a new story");
        ids.insert(messages[0].body["id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 3);
}
