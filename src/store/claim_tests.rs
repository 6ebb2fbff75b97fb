//! The store's contract for a fleet: the feed list, claims on feeds and
//! stories, leases that lapse and heartbeats that keep them.

use std::time::Duration;

use super::{item, pending, record_as};
use crate::config::FeedConfig;
use crate::store::{Claimant, Store};

pub(crate) fn feed(id: &str) -> FeedConfig {
    FeedConfig {
        id: id.into(),
        url: format!("https://{id}.example/feed.xml"),
        interval: None,
        min_interval: None,
        max_interval: None,
        routing_key: None,
        fetch_full_text: None,
    }
}

pub(crate) const T0: i64 = 1_780_000_000_000;
pub(crate) const LEASE_MS: i64 = 60_000;

pub(crate) async fn the_config_wins_and_feeds_added_by_command_stay(store: &dyn Store) {
    let sync = store.sync_feeds(&[feed("a"), feed("b")]).await.unwrap();
    assert_eq!((sync.added, sync.updated, sync.removed), (2, 0, 0));
    assert_eq!(
        store.add_feeds(&[feed("b"), feed("c")]).await.unwrap(),
        vec!["c".to_string()]
    );
    let mut b = feed("b");
    b.interval = Some(Duration::from_secs(60));
    // `a` left the config; `b` changed; `c` came from a command.
    let sync = store.sync_feeds(&[b.clone()]).await.unwrap();
    assert_eq!((sync.added, sync.updated, sync.removed), (0, 1, 1));
    let feeds = store.feeds().await.unwrap();
    let ids: Vec<&str> = feeds.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["b", "c"]);
    assert_eq!(
        (feeds[0].url.as_str(), feeds[0].interval),
        (b.url.as_str(), b.interval)
    );
    assert!(store.remove_feed("c").await.unwrap());
    assert!(!store.remove_feed("c").await.unwrap());
    assert_eq!(store.feeds().await.unwrap().len(), 1);
}

pub(crate) async fn a_due_feed_is_claimed_by_one_worker_until_its_poll_is_saved(store: &dyn Store) {
    store
        .sync_feeds(&[feed("a"), feed("b"), feed("c")])
        .await
        .unwrap();
    let one = Claimant::new("host-1", 10, Duration::from_millis(LEASE_MS as u64));
    let two = Claimant::new("host-2", 20, Duration::from_millis(LEASE_MS as u64));
    let first = store.claim_due_feeds(&one, T0, 2).await.unwrap();
    let second = store.claim_due_feeds(&two, T0, 10).await.unwrap();
    let mut all: Vec<String> = first
        .iter()
        .chain(&second)
        .map(|s| s.feed_id.clone())
        .collect();
    all.sort();
    assert_eq!(all, ["a", "b", "c"], "each feed claimed once");
    assert!(
        store
            .claim_due_feeds(&one, T0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.next_due_ms(T0).await.unwrap(),
        None,
        "every feed is held"
    );
    assert!(
        store
            .claim_feed(&two, &first[0].feed_id, T0)
            .await
            .unwrap()
            .is_none()
    );
    // Saving the poll releases the claim; the feed is due again later.
    let mut state = first[0].clone();
    state.next_due_ms = T0 + 300_000;
    store.save_feed_state(&state).await.unwrap();
    assert!(
        store
            .claim_due_feeds(&two, T0 + 1, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.next_due_ms(T0 + 1).await.unwrap(), Some(T0 + 300_000));
    // Due again; and the claims nobody saved have lapsed by then.
    let due = store.claim_due_feeds(&two, T0 + 300_000, 10).await.unwrap();
    assert_eq!(due.len(), 3);
    assert!(due.iter().any(|d| d.feed_id == state.feed_id));
}

pub(crate) async fn polls_saved_together_are_each_kept_and_released(store: &dyn Store) {
    store
        .sync_feeds(&[feed("a"), feed("b"), feed("c")])
        .await
        .unwrap();
    let lease = Duration::from_millis(LEASE_MS as u64);
    let (one, two) = (Claimant::new("h1", 1, lease), Claimant::new("h2", 2, lease));
    let mut held = store.claim_due_feeds(&one, T0, 10).await.unwrap();
    held.sort_by(|x, y| x.feed_id.cmp(&y.feed_id));
    // `c` before `b`: a batch is whatever order the polls ended in.
    let (mut b, mut c) = (held[1].clone(), held[2].clone());
    b.next_due_ms = T0 + 50_000;
    b.etag = Some("\"b1\"".into());
    c.next_due_ms = T0 + 200_000;
    c.last_error = Some("timeout".into());
    store
        .save_feed_states(&[c.clone(), b.clone()])
        .await
        .unwrap();
    store.save_feed_states(&[]).await.unwrap();
    for saved in [&b, &c] {
        let kept = store.feed_state(&saved.feed_id).await.unwrap().unwrap();
        assert_eq!(
            (kept.next_due_ms, &kept.etag, &kept.last_error),
            (saved.next_due_ms, &saved.etag, &saved.last_error)
        );
    }
    // Both claims are released: `b` is due for anyone, `c` later; `a`
    // is still held by the worker that did not save it.
    let due = store.claim_due_feeds(&two, T0 + 55_000, 10).await.unwrap();
    let ids: Vec<&str> = due.iter().map(|d| d.feed_id.as_str()).collect();
    assert_eq!(ids, ["b"]);
    assert_eq!(
        store.next_due_ms(T0 + 55_000).await.unwrap(),
        Some(T0 + 200_000)
    );
}

pub(crate) async fn a_dead_workers_claims_lapse_and_a_heartbeat_keeps_them(store: &dyn Store) {
    store.sync_feeds(&[feed("a"), feed("b")]).await.unwrap();
    let lease = Duration::from_millis(LEASE_MS as u64);
    let (one, two) = (Claimant::new("h1", 1, lease), Claimant::new("h2", 2, lease));
    store.register(&one, T0).await.unwrap();
    let held = store.claim_due_feeds(&one, T0, 1).await.unwrap().remove(0);
    let story = record_as(store, &one, "a", &[item("https://x.example/s", "g", "T")])
        .await
        .remove(0);
    // `one` keeps beating for what it works on: nobody else gets them.
    let later = T0 + LEASE_MS - 1_000;
    let live = store
        .heartbeat(
            &one,
            later,
            std::slice::from_ref(&held.feed_id),
            std::slice::from_ref(&story.story_id),
        )
        .await
        .unwrap();
    assert_eq!(live, 1);
    let after_first_lease = T0 + LEASE_MS + 1_000;
    let feeds = store
        .claim_due_feeds(&two, after_first_lease, 10)
        .await
        .unwrap();
    assert!(feeds.iter().all(|f| f.feed_id != held.feed_id));
    assert!(
        store
            .claim_unfinished(&two, after_first_lease, 10, false)
            .await
            .unwrap()
            .is_empty()
    );
    // Then `one` dies: after a lease without a heartbeat, `two` takes over.
    let lapsed = later + LEASE_MS + 1_000;
    let taken = store
        .claim_unfinished(&two, lapsed, 10, false)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].story_id(), story.story_id);
    let feeds = store.claim_due_feeds(&two, lapsed, 10).await.unwrap();
    assert!(feeds.iter().any(|f| f.feed_id == held.feed_id));
    assert_eq!(store.workers().await.unwrap().len(), 1);
}

pub(crate) async fn a_released_story_waits_and_a_signed_off_worker_frees_at_once(
    store: &dyn Store,
) {
    let lease = Duration::from_millis(LEASE_MS as u64);
    let (one, two) = (Claimant::new("h1", 1, lease), Claimant::new("h2", 2, lease));
    let tasks = record_as(
        store,
        &one,
        "f",
        &[
            item("https://x.example/1", "g1", "T1"),
            item("https://x.example/2", "g2", "T2"),
        ],
    )
    .await;
    let now = chrono::Utc::now().timestamp_millis();
    assert!(
        store
            .claim_unfinished(&two, now, 10, true)
            .await
            .unwrap()
            .is_empty(),
        "held by one"
    );
    assert_eq!(
        store.unfinished_unclaimed(now).await.unwrap(),
        0,
        "both held"
    );
    store
        .release(&tasks[0].story_id, now + 300_000)
        .await
        .unwrap();
    assert_eq!(store.unfinished_unclaimed(now).await.unwrap(), 1, "let go");
    assert!(
        store
            .claim_unfinished(&two, now, 10, false)
            .await
            .unwrap()
            .is_empty(),
        "not yet"
    );
    // A one-off run takes what waits, as soon as nobody holds it.
    let waiting = store.claim_unfinished(&two, now, 10, true).await.unwrap();
    assert_eq!(waiting.len(), 1);
    store.sign_off(&one.id).await.unwrap();
    let freed = store.claim_unfinished(&two, now, 10, false).await.unwrap();
    assert_eq!(freed.len(), 1);
    assert_eq!(freed[0].story_id(), tasks[1].story_id);
}

pub(crate) async fn an_update_does_not_take_a_story_another_worker_holds(store: &dyn Store) {
    let lease = Duration::from_millis(LEASE_MS as u64);
    let (one, two) = (Claimant::new("h1", 1, lease), Claimant::new("h2", 2, lease));
    let first = record_as(store, &one, "f", &[item("https://x.example/s", "g", "Old")]).await;
    assert_eq!(first.len(), 1);
    // Worker two polls the same feed (after one released it) and sees an edit.
    let edited = record_as(store, &two, "f", &[item("https://x.example/s", "g", "New")]).await;
    assert!(
        edited.is_empty(),
        "one still works on it; it reopens after its confirm"
    );
    store
        .save_pending(&pending(&first[0], 1, "sha256:old"))
        .await
        .unwrap();
    let reopened = store
        .mark_published(&first[0].story_id, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reopened.item.title.as_deref(), Some("New"));
}
