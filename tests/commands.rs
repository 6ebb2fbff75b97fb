//! The operator commands of the binary: extract, check-config, feeds
//! import-opml, feeds list and tail.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Capture, STORIES, farm, feeds, feedwire, fixture_path, stderr, write_config};
use tokio::io::{AsyncBufReadExt, BufReader};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn extract_prints_clean_text_and_speaks_json_lines() {
    let page = fixture_path("pages/c0museum44.html");
    let output = feedwire(&[
        "extract",
        "--url",
        "https://news.example/museum",
        page.to_str().unwrap(),
    ])
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.starts_with("A city museum has closed one of its main galleries"),
        "{text}"
    );
    assert!(!text.contains("Dark Mode") && !text.contains("cookies"));

    let html = std::fs::read_to_string(&page).unwrap();
    let request =
        serde_json::json!({"id": "m1", "url": "https://news.example/museum", "html": html});
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_feedwire"))
        .args(["extract", "--jsonl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        let line = format!("{request}\n{request}\n");
        stdin.write_all(line.as_bytes()).await.unwrap();
    }
    let output = child.wait_with_output().await.unwrap();
    let lines: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["id"], "m1");
    assert_eq!(lines[0]["title"], "Museum closes gallery after roof leak");
    assert_eq!(lines[0]["authors"], serde_json::json!(["Sam Reporter"]));
    assert!(
        lines[0]["text"]
            .as_str()
            .unwrap()
            .contains("sixty paintings")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_feed_list_lives_in_the_store_and_check_config_masks_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "x",
        &[(
            "bbc-world",
            "https://feeds.bbci.co.uk/news/world/rss.xml".into(),
        )],
        "",
    );
    let config = config.to_str().unwrap();
    let opml = dir.path().join("subs.opml");
    std::fs::write(
        &opml,
        r#"<?xml version="1.0"?><opml version="2.0"><body>
<outline text="News"><outline type="rss" text="BBC World" xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml"/>
<outline type="rss" text="Example Tech" xmlUrl="https://example.org/tech.atom"/></outline></body></opml>"#,
    )
    .unwrap();
    let output = feedwire(&[
        "feeds",
        "import-opml",
        "--config",
        config,
        opml.to_str().unwrap(),
    ])
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output).trim(),
        "added example-tech https://example.org/tech.atom",
        "a URL the config names is known already"
    );
    let output = feedwire(&[
        "feeds",
        "add",
        "--config",
        config,
        "blog",
        "https://blog.example/feed.xml",
        "--interval",
        "30m",
    ])
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let output = feedwire(&[
        "feeds",
        "add",
        "--config",
        config,
        "again",
        "https://blog.example/feed.xml",
    ])
    .await;
    assert!(!output.status.success(), "the same URL twice is refused");
    let output = feedwire(&[
        "feeds",
        "add",
        "--config",
        config,
        "bad id",
        "https://x.example/",
    ])
    .await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("feed.id"), "{}", stderr(&output));

    let output = feedwire(&["feeds", "export-opml", "--config", config]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let exported = stdout(&output);
    assert!(
        exported.contains("xmlUrl=\"https://example.org/tech.atom\""),
        "{exported}"
    );
    assert!(
        exported.contains("xmlUrl=\"https://blog.example/feed.xml\""),
        "{exported}"
    );
    let output = feedwire(&["feeds", "remove", "--config", config, "example-tech"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let output = feedwire(&["feeds", "list", "--config", config]).await;
    let listed = stdout(&output);
    assert!(
        listed.contains("blog") && !listed.contains("example-tech"),
        "{listed}"
    );

    let output = feedwire(&["check-config", "--config", config]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let resolved = stdout(&output);
    assert!(
        resolved.contains("per_host_interval = \"0ms\""),
        "defaults are printed: {resolved}"
    );
    assert!(resolved.contains("guest:***@"), "{resolved}");
    assert!(
        !resolved.contains("guest:guest@"),
        "the password leaked: {resolved}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn feeds_list_and_tail_show_what_the_worker_did() {
    let server = farm().await;
    let capture = Capture::new("tail").await;
    let dir = tempfile::tempdir().unwrap();
    server.route("/feeds/gone.xml", common::Route::status(410));
    let mut feeds = feeds(&server);
    feeds.push(("gone", server.url("/feeds/gone.xml")));
    let config = write_config(dir.path(), &capture.exchange, &feeds, "");

    let mut tail = tokio::process::Command::new(env!("CARGO_BIN_EXE_feedwire"))
        .args([
            "tail",
            "--config",
            config.to_str().unwrap(),
            "--binding",
            "article.world",
            "--limit",
            "2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Tail announces itself once its queue is bound.
    let mut tail_err = BufReader::new(tail.stderr.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), tail_err.next_line())
        .await
        .expect("tail starts")
        .unwrap()
        .unwrap_or_default();
    assert!(first.contains("feedwire tail"), "{first}");

    let output = feedwire(&["run", "--once", "--config", config.to_str().unwrap()]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(capture.drain().await.len(), STORIES.len());

    let tailed = tokio::time::timeout(Duration::from_secs(20), tail.wait_with_output())
        .await
        .expect("tail stops after --limit messages")
        .unwrap();
    let lines: Vec<serde_json::Value> = stdout(&tailed)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for line in &lines {
        assert_eq!(line["routing_key"], "article.world");
        assert_eq!(line["type"], "article.created");
        assert_eq!(line["message"]["schema"], "feedwire.article.v1");
    }

    // feeds check: every item of the world feed is known now.
    let world = server.url("/feeds/world.xml");
    let output = feedwire(&[
        "feeds",
        "check",
        "--config",
        config.to_str().unwrap(),
        &world,
    ])
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (summary, items) = lines.split_last().unwrap();
    assert_eq!(items.len(), 4);
    assert!(items.iter().all(|i| i["new"] == false), "{items:?}");
    assert_eq!(items[0]["url"], server.url("/news/articles/c0harbour1"));
    assert_eq!(summary["feed"]["items"], 4);
    assert_eq!(summary["feed"]["ttl_minutes"], 15);
    assert_eq!(summary["http"]["status"], 200);
    // An IP address has no registrable domain: its own host group.
    assert_eq!(
        summary["host_group"],
        serde_json::json!({"name": "127.0.0.1", "source": "host"})
    );

    let output = feedwire(&["feeds", "list", "--config", config.to_str().unwrap()]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    let row = |id: &str| {
        table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .unwrap_or_else(|| panic!("no row for {id}: {table}"))
            .to_string()
    };
    assert!(row("tech").contains("healthy"), "{table}");
    assert!(
        row("tech").split_whitespace().any(|w| w == "2"),
        "two stories: {table}"
    );
    assert!(row("broken").contains("backing off"), "{table}");
    assert!(
        row("gone").contains("dead"),
        "410 Gone marks a feed dead: {table}"
    );
    capture.delete().await;
}
