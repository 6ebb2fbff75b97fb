//! SQLite-specific behaviour: upgrades, files, concurrent writers.

use super::schema::{SCHEMA_VERSION, has_column};
use super::*;
use crate::feed::FeedItem;
use crate::schedule::{Pace, SkipSchedule};
use crate::store::tests::{feed, item, pending, record};

#[tokio::test]
async fn a_version_2_store_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE feeds (id TEXT PRIMARY KEY, url TEXT NOT NULL, title TEXT, etag TEXT,
                last_modified TEXT, next_due_ms INTEGER NOT NULL DEFAULT 0,
                consecutive_failures INTEGER NOT NULL DEFAULT 0, last_polled_ms INTEGER,
                last_status TEXT, last_error TEXT);
             INSERT INTO feeds (id, url) VALUES ('f', 'https://x.example/feed');
             PRAGMA user_version = 2;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let state = store.feed_state("f").await.unwrap().unwrap();
    assert_eq!(state.moved_url, None);
    store
        .save_feed_state(&FeedState {
            moved_url: Some("https://y.example/feed".into()),
            pace: Pace {
                median_gap_ms: Some(600_000),
                newest_item_ms: Some(1_780_000_000_000),
            },
            ttl_ms: Some(900_000),
            skip: SkipSchedule {
                hours: 1 << 23,
                days: 1 << 6,
            },
            ..state
        })
        .await
        .unwrap();
    let upgraded = store.feed_state("f").await.unwrap().unwrap();
    assert_eq!(
        upgraded.moved_url.as_deref(),
        Some("https://y.example/feed")
    );
    assert_eq!(upgraded.pace.median_gap_ms, Some(600_000));
    assert_eq!(upgraded.ttl_ms, Some(900_000));
    assert_eq!(upgraded.skip.hours, 1 << 23);
    assert_eq!(upgraded.skip.days, 1 << 6);
}

/// A version-4 store as the previous release left it: one story found
/// by a bare guid `1`, published.
fn version_4_store(path: &Path, extra: &str) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE feeds (id TEXT PRIMARY KEY, url TEXT NOT NULL, title TEXT, etag TEXT,
            last_modified TEXT, next_due_ms INTEGER NOT NULL DEFAULT 0,
            consecutive_failures INTEGER NOT NULL DEFAULT 0, last_polled_ms INTEGER,
            last_status TEXT, last_error TEXT, moved_url TEXT, pace_gap_ms INTEGER,
            newest_item_ms INTEGER, ttl_ms INTEGER, skip_hours INTEGER NOT NULL DEFAULT 0,
            skip_days INTEGER NOT NULL DEFAULT 0);
         CREATE TABLE stories (id TEXT PRIMARY KEY, state TEXT NOT NULL, feed_id TEXT NOT NULL,
            url TEXT, item TEXT NOT NULL, revision INTEGER NOT NULL DEFAULT 0, content_hash TEXT,
            pending_revision INTEGER, pending_hash TEXT, pending_event TEXT,
            pending_routing_key TEXT, pending_timestamp INTEGER, pending_body BLOB,
            first_seen_ms INTEGER NOT NULL, changed_ms INTEGER NOT NULL, published_ms INTEGER);
         CREATE TABLE story_keys (key TEXT PRIMARY KEY, story_id TEXT NOT NULL);
         CREATE TABLE sightings (feed_id TEXT NOT NULL, story_id TEXT NOT NULL,
            fingerprint TEXT NOT NULL, PRIMARY KEY (feed_id, story_id)) WITHOUT ROWID;
         INSERT INTO stories (id, state, feed_id, item, revision, first_seen_ms, changed_ms)
            VALUES ('s1', 'published', 'site-a', '{\"guid\":\"1\"}', 1, 0, 0);
         INSERT INTO story_keys VALUES ('guid:1', 's1');
         INSERT INTO sightings VALUES ('site-a', 's1', 'fp');
         PRAGMA user_version = 4;",
    )
    .unwrap();
    conn.execute_batch(extra).unwrap();
}

#[tokio::test]
async fn version_5_scopes_bare_guids_by_feed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v4.db");
    version_4_store(&path, "");
    let store = SqliteStore::open(&path).unwrap();
    let one = FeedItem {
        guid: Some("1".into()),
        ..FeedItem::default()
    };
    let bare = |feed: &str| StoryIdentity::of(feed, &one);
    // The story keeps its id for its own feed; the same guid elsewhere
    // is another story.
    assert_eq!(
        store
            .lookup(&bare("site-a"))
            .await
            .unwrap()
            .map(|r| r.story_id),
        Some("s1".to_string())
    );
    assert!(store.lookup(&bare("site-b")).await.unwrap().is_none());
    assert_eq!(
        record(&store, "site-b", std::slice::from_ref(&one))
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn an_interrupted_upgrade_does_not_block_start_up() {
    // A column of version 5 is there already, the version still says 4
    // (an upgrade stopped half-way by an older release).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("half.db");
    version_4_store(
        &path,
        "ALTER TABLE stories ADD COLUMN item_version INTEGER NOT NULL DEFAULT 0;",
    );
    let store = SqliteStore::open(&path).unwrap();
    let version: i64 = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let task = crate::store::tests::pending_story(
        &store,
        crate::store::tests::item("https://x.example/a", "g", "T"),
    )
    .await;
    assert_eq!(store.mark_published(&task.story_id, 1).await.unwrap(), None);
}

#[tokio::test]
async fn a_failed_upgrade_leaves_the_old_version_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v4.db");
    // A table in the way of version 5's schema makes the upgrade fail
    // after its first ALTERs.
    version_4_store(&path, "CREATE TABLE archive (seq INTEGER PRIMARY KEY);");
    assert!(matches!(
        SqliteStore::open(&path),
        Err(StoreError::Corrupt { .. })
    ));
    let conn = Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 4);
    assert_eq!(
        has_column(&conn, "stories", "item_version").unwrap(),
        Some(false)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_items_waits_for_another_writer_instead_of_failing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.db");
    let worker = SqliteStore::open(&path).unwrap();
    let backfill = SqliteStore::open(&path).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = std::sync::Arc::clone(&stop);
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let link = format!("https://b.example/{n}");
                record(
                    &backfill,
                    "backfill",
                    &[crate::store::tests::item(&link, "g", "T")],
                )
                .await;
            }
            n
        })
    };
    for n in 0..300 {
        let link = format!("https://w.example/{n}");
        let items = [crate::store::tests::item(&link, "g", "T")];
        let document = crate::dedup::identify("w", &items);
        let discovered: Vec<DiscoveredItem> = crate::store::tests::discovered(&items, &document);
        worker
            .record_items(
                &crate::store::tests::worker(),
                "w",
                &discovered,
                &document.ambiguous,
            )
            .await
            .expect("a concurrent writer must not make record_items fail");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(writer.await.unwrap() > 0);
}

#[tokio::test]
async fn a_published_story_keeps_no_item_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("items.db");
    let store = SqliteStore::open(&path).unwrap();
    let link = "https://x.example/s";
    let task = record(&store, "f", &[crate::store::tests::item(link, "g", "T")])
        .await
        .remove(0);
    let item_json = || -> String {
        Connection::open(&path)
            .unwrap()
            .query_row("SELECT item FROM stories", [], |r| r.get(0))
            .unwrap()
    };
    assert!(item_json().contains("\"T\""));
    store
        .save_pending(&pending(&task, 1, "sha256:aa"))
        .await
        .unwrap();
    store.mark_published(&task.story_id, 1).await.unwrap();
    assert_eq!(item_json(), "");
    let work = record(&store, "f", &[crate::store::tests::item(link, "g", "T2")]).await;
    assert_eq!(work[0].item.title.as_deref(), Some("T2"));
}

#[tokio::test]
async fn state_survives_reopen_and_foreign_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/feedwire.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        record(
            &store,
            "f",
            &[crate::store::tests::item("https://x.example/s", "g", "T")],
        )
        .await;
        store
            .save_feed_state(&FeedState {
                feed_id: "f".into(),
                url: "https://x.example/feed".into(),
                etag: Some("\"abc\"".into()),
                ..FeedState::default()
            })
            .await
            .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.stats().await.unwrap().discovered, 1);
    assert_eq!(
        store.stories_per_feed().await.unwrap(),
        vec![("f".to_string(), 1)]
    );
    assert_eq!(store.feed_states().await.unwrap().len(), 1);
    assert_eq!(
        store
            .feed_state("f")
            .await
            .unwrap()
            .unwrap()
            .etag
            .as_deref(),
        Some("\"abc\"")
    );

    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x42u8; 8192]).unwrap();
    assert!(matches!(
        SqliteStore::open(&garbage),
        Err(StoreError::Corrupt { .. })
    ));
}

#[tokio::test]
async fn a_value_the_store_does_not_know_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.db");
    let store = SqliteStore::open(&path).unwrap();
    crate::store::tests::pending_story(
        &store,
        crate::store::tests::item("https://x.example/a", "g", "T"),
    )
    .await;
    Connection::open(&path)
        .unwrap()
        .execute("UPDATE stories SET pending_event = 'deleted'", [])
        .unwrap();
    assert!(
        store.unfinished(i64::MAX).await.is_err(),
        "not silently `created`"
    );
}

/// SQL of the statements SQLite parsed and planned again after their first
/// run (`SQLITE_STMTSTATUS_REPREPARE`), among those the connection holds.
fn reprepared(conn: &Connection) -> Vec<String> {
    use rusqlite::ffi;
    let mut found = Vec::new();
    // SAFETY: the handle is this live connection's, used on its own thread;
    // statements are only read (status, text) while walking the list.
    unsafe {
        let db = conn.handle();
        let mut stmt = ffi::sqlite3_next_stmt(db, std::ptr::null_mut());
        while !stmt.is_null() {
            if ffi::sqlite3_stmt_status(stmt, ffi::SQLITE_STMTSTATUS_REPREPARE, 0) > 0 {
                let sql = std::ffi::CStr::from_ptr(ffi::sqlite3_sql(stmt));
                found.push(sql.to_string_lossy().into_owned());
            }
            stmt = ffi::sqlite3_next_stmt(db, stmt);
        }
    }
    found
}

#[tokio::test]
async fn the_hot_statements_are_planned_once() {
    let store = SqliteStore::in_memory().unwrap();
    let claimant = crate::store::tests::worker();
    store.sync_feeds(&[feed("f")]).await.unwrap();
    let lookup = PrintLookup {
        since_ms: 1,
        now_ms: 2,
        min_similarity: 0.6,
    };
    for round in 0..3_i64 {
        let items = [item(&format!("https://x.example/{round}"), "", "t")];
        let tasks = record(&store, "f", &items).await;
        store.release(&tasks[0].story_id, 0).await.unwrap();
        // Each round binds other values, as the worker's calls do.
        store
            .claim_unfinished(&claimant, 10 + round, 5 + round as usize, round == 1)
            .await
            .unwrap();
        store
            .claim_due_feeds(&claimant, i64::MAX - round, 3 + round as usize)
            .await
            .unwrap();
        let print = TextPrint {
            shingles: 100,
            slots: std::array::from_fn(|i| (i as u16) * (round as u16 + 1)),
        };
        store
            .match_print(&tasks[0].story_id, &print, lookup)
            .await
            .unwrap();
        store
            .archived(round, None, Some(round), 7 + round as usize)
            .await
            .unwrap();
    }
    let again = store.call(|c| Ok(reprepared(c))).await.unwrap();
    assert!(
        again.is_empty(),
        "statements planned again on every run: {again:#?}"
    );
}

#[tokio::test]
async fn prints_are_found_again_after_a_restart_and_the_old_band_table_goes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("near.db");
    let lookup = PrintLookup {
        since_ms: 0,
        now_ms: 1,
        min_similarity: 0.6,
    };
    let print = TextPrint {
        shingles: 200,
        slots: std::array::from_fn(|i| 7 + i as u16),
    };
    {
        let store = SqliteStore::open(&path).unwrap();
        let original = record(&store, "f", &[item("https://x.example/a", "a", "a")]).await;
        let first = store
            .match_print(&original[0].story_id, &print, lookup)
            .await
            .unwrap();
        assert_eq!(first, None);
        // A store written before the bands moved to memory had this table.
        store
            .call(|c| {
                c.execute_batch("CREATE TABLE near_bands (band INTEGER, print INTEGER)")?;
                Ok(())
            })
            .await
            .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let copy = record(&store, "f", &[item("https://y.example/b", "b", "b")]).await;
    let found = store
        .match_print(&copy[0].story_id, &print, lookup)
        .await
        .unwrap()
        .expect("the print made before the restart");
    assert_eq!(found.url.as_deref(), Some("https://x.example/a"));
    let tables: i64 = store
        .call(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'near_bands'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap();
    assert_eq!(tables, 0);
}
