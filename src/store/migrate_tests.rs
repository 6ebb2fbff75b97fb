//! A SQLite store filled through the trait, moved, and read back through
//! the trait on PostgreSQL.

use std::time::Duration;

use super::*;
use crate::dedup::StoryIdentity;
use crate::feed::FeedItem;
use crate::schedule::{LastStatus, Pace, SkipSchedule};
use crate::store::postgres::tests::Scratch;
use crate::store::tests::{feed, item, pending, record, record_as};
use crate::store::{Claimant, FeedState, Store, StoryWork, SubscriptionStore};

/// Every kind of row a deployment has: feeds from the config and from a
/// command with their poll state, published stories (archive, seq), one
/// reopened by an edit, one built and waiting for its confirm, one
/// released to wait, one held by a worker, ambiguous keys (a status page),
/// a replay position. Returns the items recorded, by feed.
async fn fill(store: &SqliteStore) -> Vec<(&'static str, Vec<FeedItem>)> {
    store.sync_feeds(&[feed("a"), feed("b")]).await.unwrap();
    store
        .save_subscription(&crate::store::tests::subscription("a", 5_000))
        .await
        .unwrap();
    store.add_feeds(&[feed("c")]).await.unwrap();
    let state = FeedState {
        feed_id: "a".into(),
        url: "https://a.example/feed.xml".into(),
        etag: Some("\"e1\"".into()),
        next_due_ms: 1_780_000_300_000,
        consecutive_failures: 2,
        last_polled_ms: Some(1_780_000_000_000),
        last_status: Some(LastStatus::Http(503)),
        last_error: Some("503".into()),
        moved_url: Some("https://a2.example/feed.xml".into()),
        pace: Pace {
            median_gap_ms: Some(600_000),
            newest_item_ms: Some(1_779_999_000_000),
        },
        ttl_ms: Some(900_000),
        skip: SkipSchedule {
            hours: 1 << 3,
            days: 1 << 6,
        },
        ..FeedState::default()
    };
    store.save_feed_state(&state).await.unwrap();

    let news: Vec<FeedItem> = (0..7)
        .map(|i| {
            item(
                &format!("https://a.example/s{i}?at_medium=RSS"),
                &format!("https://a.example/s{i}#0"),
                "T",
            )
        })
        .collect();
    let tasks = record(store, "a", &news).await;
    for task in &tasks[..5] {
        store
            .save_pending(&pending(task, 1, "sha256:1"))
            .await
            .unwrap();
        store.mark_published(&task.story_id, 1).await.unwrap();
    }
    // Built, waiting for its confirm.
    store
        .save_pending(&pending(&tasks[5], 1, "sha256:w"))
        .await
        .unwrap();
    // Released until later; and one reopened by an edit.
    store
        .release(&tasks[6].story_id, i64::MAX / 2)
        .await
        .unwrap();
    let mut edited = news.clone();
    edited[0].title = Some("T, corrected".into());
    let reopened = record(store, "a", &edited).await;
    assert_eq!(reopened.len(), 1);
    // A status page: one link, told apart by guids (an ambiguous key).
    let status: Vec<FeedItem> = ["inc-1", "inc-2"]
        .iter()
        .map(|g| item("https://status.example/", g, g))
        .collect();
    let holder = Claimant::new("old-host", 7, Duration::from_secs(3600));
    assert_eq!(record_as(store, &holder, "b", &status).await.len(), 2);
    store
        .save_replay_position("to-search", Some(3))
        .await
        .unwrap();
    vec![("a", edited), ("b", status)]
}

async fn same_through_the_trait(
    sqlite: &SqliteStore,
    pg: &PostgresStore,
    items: &[(&str, Vec<FeedItem>)],
) {
    assert_eq!(pg.feeds().await.unwrap().len(), 3);
    let ids = |feeds: Vec<crate::config::FeedConfig>| -> Vec<(String, String)> {
        feeds.into_iter().map(|f| (f.id, f.url)).collect()
    };
    assert_eq!(
        ids(pg.feeds().await.unwrap()),
        ids(sqlite.feeds().await.unwrap())
    );
    assert_eq!(
        pg.feed_states().await.unwrap(),
        sqlite.feed_states().await.unwrap()
    );
    for (feed_id, items) in items {
        for it in items {
            let identity = StoryIdentity::of(feed_id, it);
            assert_eq!(
                pg.lookup(&identity).await.unwrap(),
                sqlite.lookup(&identity).await.unwrap(),
                "{it:?}"
            );
        }
    }
    assert_eq!(
        pg.unfinished(i64::MAX).await.unwrap(),
        sqlite.unfinished(i64::MAX).await.unwrap()
    );
    assert_eq!(
        pg.archived(0, None, None, 100).await.unwrap(),
        sqlite.archived(0, None, None, 100).await.unwrap()
    );
    assert_eq!(pg.replay_position("to-search").await.unwrap(), Some(3));
    assert_eq!(
        pg.subscriptions().await.unwrap(),
        sqlite.subscriptions().await.unwrap()
    );
    assert_eq!(pg.stats().await.unwrap(), sqlite.stats().await.unwrap());
    assert_eq!(
        pg.stories_per_feed().await.unwrap(),
        sqlite.stories_per_feed().await.unwrap()
    );
}

#[tokio::test]
async fn a_sqlite_store_moves_whole_and_carries_on_in_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feedwire.db");
    let sqlite = SqliteStore::open(&path).unwrap();
    let items = fill(&sqlite).await;
    let scratch = Scratch::new().await;
    let pg = scratch.store().await;
    let small = MigrateOptions {
        batch_rows: 3,
        ..MigrateOptions::default()
    };
    let report = sqlite_to_postgres_with(&path, &pg, &small).await.unwrap();
    assert_eq!(
        report,
        MigrationReport {
            feeds: 3,
            stories: 9,
            // 7 links with their guid URLs, the status page's link
            // (ambiguous) and its two guids.
            story_keys: 7 + 1 + 2,
            sightings: 9,
            archived_messages: 5,
            replay_positions: 1,
            subscriptions: 1,
            skipped: 0,
            seq_offset: 0,
        }
    );
    same_through_the_trait(&sqlite, &pg, &items).await;

    // Nothing seen again is new; the claims did not move, the wait did.
    for (feed_id, items) in &items {
        assert!(record(&pg, feed_id, items).await.is_empty());
    }
    let new = Claimant::new("new-host", 1, Duration::from_secs(60));
    let now = chrono::Utc::now().timestamp_millis();
    let claimed = pg.claim_unfinished(&new, now, 100, false).await.unwrap();
    let sqlite_claimable = sqlite.unfinished(i64::MAX).await.unwrap().len() - 1;
    assert_eq!(claimed.len(), sqlite_claimable, "all but the released one");
    // New messages come after the moved ones.
    let republish = claimed
        .iter()
        .find_map(|w| match w {
            StoryWork::Republish(envelope) => Some(envelope.clone()),
            StoryWork::Process(_) => None,
        })
        .expect("the built message");
    pg.mark_published(&republish.story_id, republish.revision)
        .await
        .unwrap();
    let archive = pg.archived(0, None, None, 100).await.unwrap();
    assert_eq!(archive.len(), 6);
    assert!(archive[5].seq > archive[4].seq);
    assert_eq!(archive[5].envelope, republish);

    // A second run finds the target full.
    let again = sqlite_to_postgres(&path, &pg).await;
    assert!(matches!(again, Err(StoreError::Migrate(_))), "{again:?}");
    // Merging on purpose keeps what the target has.
    let merge = MigrateOptions {
        into_non_empty: true,
        ..MigrateOptions::default()
    };
    let merged = sqlite_to_postgres_with(&path, &pg, &merge).await.unwrap();
    assert_eq!(
        (
            merged.feeds,
            merged.stories,
            merged.archived_messages,
            merged.skipped
        ),
        (0, 0, 0, 3 + 9 + 10 + 9 + 1 + 5 + 1)
    );
    assert!(merged.seq_offset >= 6);
    assert_eq!(pg.archived(0, None, None, 100).await.unwrap().len(), 6);
}

#[tokio::test]
async fn a_missing_source_is_an_error_and_the_target_stays_empty() {
    let scratch = Scratch::new().await;
    let pg = scratch.store().await;
    let missing = sqlite_to_postgres(Path::new("/nonexistent/feedwire.db"), &pg).await;
    assert!(
        matches!(missing, Err(StoreError::Migrate(_))),
        "{missing:?}"
    );
    assert_eq!(pg.stats().await.unwrap().feeds, 0);
}
