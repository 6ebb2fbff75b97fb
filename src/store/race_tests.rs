//! The store's contract for two workers on one database, each with a store
//! of its own (two processes, two connection pools), doing the same thing
//! at the same moment.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::{LEASE_MS, T0, feed, item, pending, record_as};
use crate::dedup::StoryIdentity;
use crate::store::{Claimant, SharedStore, StoryWork};

fn claimant(n: u32) -> Claimant {
    Claimant::new(
        &format!("host-{n}"),
        n,
        Duration::from_millis(LEASE_MS as u64),
    )
}

/// Runs `a` and `b` on two runtime threads, released together.
async fn at_once<A, B, FA, FB>(a: A, b: B) -> (FA::Output, FB::Output)
where
    A: FnOnce() -> FA,
    B: FnOnce() -> FB,
    FA: Future + Send + 'static,
    FB: Future + Send + 'static,
    FA::Output: Send + 'static,
    FB::Output: Send + 'static,
{
    let gate = Arc::new(tokio::sync::Barrier::new(2));
    let (fa, fb) = (a(), b());
    let (ga, gb) = (Arc::clone(&gate), gate);
    let ta = tokio::spawn(async move {
        ga.wait().await;
        fa.await
    });
    let tb = tokio::spawn(async move {
        gb.wait().await;
        fb.await
    });
    (ta.await.unwrap(), tb.await.unwrap())
}

/// Two feeds carry the same stories — half by the same link, half only by
/// a shared guid URL, so the two workers would give them different ids —
/// and are recorded by two workers at the same moment: one story each,
/// handed to exactly one of them.
pub(crate) async fn two_workers_recording_one_story_from_two_feeds_create_one_story(
    one: SharedStore,
    two: SharedStore,
) {
    const ROUNDS: usize = 15;
    const STORIES: usize = 12;
    for round in 0..ROUNDS {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for i in 0..STORIES {
            if i % 2 == 0 {
                let link = format!("https://news.example/{round}/{i}");
                a.push(item(
                    &format!("{link}?at_medium=RSS"),
                    &format!("https://a.example/{round}/{i}"),
                    "T",
                ));
                b.push(item(&link, &format!("https://b.example/{round}/{i}"), "T"));
            } else {
                let guid = format!("https://shared.example/{round}/{i}");
                a.push(item(
                    &format!("https://a.example/p/{round}/{i}"),
                    &guid,
                    "T",
                ));
                b.push(item(
                    &format!("https://b.example/p/{round}/{i}"),
                    &guid,
                    "T",
                ));
            }
        }
        let (got_a, got_b) = at_once(
            {
                let (store, items) = (Arc::clone(&one), a.clone());
                move || async move { record_as(&*store, &claimant(1), "feed-a", &items).await }
            },
            {
                let (store, items) = (Arc::clone(&two), b.clone());
                move || async move { record_as(&*store, &claimant(2), "feed-b", &items).await }
            },
        )
        .await;
        let handed: Vec<&str> = got_a
            .iter()
            .chain(&got_b)
            .map(|t| t.story_id.as_str())
            .collect();
        let distinct: HashSet<&str> = handed.iter().copied().collect();
        assert_eq!(
            (handed.len(), distinct.len()),
            (STORIES, STORIES),
            "round {round}: each story handed out once"
        );
        for (x, y) in a.iter().zip(&b) {
            let found_a = one.lookup(&StoryIdentity::of("feed-a", x)).await.unwrap();
            let found_b = two.lookup(&StoryIdentity::of("feed-b", y)).await.unwrap();
            assert_eq!(
                found_a.map(|r| r.story_id),
                found_b.map(|r| r.story_id),
                "round {round}: one story for {x:?} and {y:?}"
            );
        }
    }
    assert_eq!(
        one.stats().await.unwrap().stories,
        (ROUNDS * STORIES) as u64
    );
}

/// Claims `limit` at a time until nothing is left; returns what it got.
async fn claim_feeds_until_empty(store: SharedStore, who: Claimant, limit: usize) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let claimed = store.claim_due_feeds(&who, T0, limit).await.unwrap();
        if claimed.is_empty() {
            return got;
        }
        got.extend(claimed.into_iter().map(|f| f.feed_id));
    }
}

pub(crate) async fn two_workers_claiming_due_feeds_get_disjoint_sets(
    one: SharedStore,
    two: SharedStore,
) {
    let feeds: Vec<_> = (0..60).map(|i| feed(&format!("f{i:02}"))).collect();
    one.sync_feeds(&feeds).await.unwrap();
    let (got_one, got_two) = at_once(
        {
            let store = Arc::clone(&one);
            move || claim_feeds_until_empty(store, claimant(1), 3)
        },
        {
            let store = Arc::clone(&two);
            move || claim_feeds_until_empty(store, claimant(2), 3)
        },
    )
    .await;
    let mut all: Vec<&String> = got_one.iter().chain(&got_two).collect();
    all.sort();
    let expected: Vec<&String> = feeds.iter().map(|f| &f.id).collect();
    assert_eq!(all, expected, "every due feed claimed, none twice");
    // One feed wanted by both at once (`run --once`): one gets it.
    one.sign_off(&claimant(1).id).await.unwrap();
    two.sign_off(&claimant(2).id).await.unwrap();
    for f in &feeds[..20] {
        let (a, b) = at_once(
            {
                let (store, id) = (Arc::clone(&one), f.id.clone());
                move || async move { store.claim_feed(&claimant(1), &id, T0).await.unwrap() }
            },
            {
                let (store, id) = (Arc::clone(&two), f.id.clone());
                move || async move { store.claim_feed(&claimant(2), &id, T0).await.unwrap() }
            },
        )
        .await;
        assert!(
            a.is_some() != b.is_some(),
            "{}: claimed by exactly one",
            f.id
        );
    }
}

async fn claim_stories_until_empty(store: SharedStore, who: Claimant, now: i64) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let claimed = store.claim_unfinished(&who, now, 3, false).await.unwrap();
        if claimed.is_empty() {
            return got;
        }
        got.extend(claimed.iter().map(|w| w.story_id().to_string()));
    }
}

pub(crate) async fn two_workers_claiming_unfinished_stories_get_disjoint_sets(
    one: SharedStore,
    two: SharedStore,
) {
    let items: Vec<_> = (0..60)
        .map(|i| item(&format!("https://x.example/{i}"), &format!("g{i}"), "T"))
        .collect();
    let recorded = record_as(&*one, &claimant(9), "f", &items).await;
    assert_eq!(recorded.len(), 60);
    // The worker that found them died: they are anyone's.
    one.sign_off(&claimant(9).id).await.unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let (got_one, got_two) = at_once(
        {
            let store = Arc::clone(&one);
            move || claim_stories_until_empty(store, claimant(1), now)
        },
        {
            let store = Arc::clone(&two);
            move || claim_stories_until_empty(store, claimant(2), now)
        },
    )
    .await;
    let mut all: Vec<&String> = got_one.iter().chain(&got_two).collect();
    all.sort();
    let mut expected: Vec<&String> = recorded.iter().map(|t| &t.story_id).collect();
    expected.sort();
    assert_eq!(all, expected, "every story claimed, none twice");
}

pub(crate) async fn a_lapsed_lease_is_taken_over_and_the_old_holder_cannot_renew_it(
    one: SharedStore,
    two: SharedStore,
) {
    let (old, new, third) = (claimant(1), claimant(2), claimant(3));
    one.sync_feeds(&[feed("a")]).await.unwrap();
    one.register(&old, T0).await.unwrap();
    let held = one.claim_due_feeds(&old, T0, 10).await.unwrap();
    assert_eq!(held.len(), 1);
    let story = record_as(&*one, &old, "a", &[item("https://x.example/s", "g", "T")])
        .await
        .remove(0);
    let (feeds, stories) = (vec!["a".to_string()], vec![story.story_id.clone()]);
    one.heartbeat(&old, T0, &feeds, &stories).await.unwrap();
    // Within the lease, the other worker gets nothing.
    let within = T0 + LEASE_MS / 2;
    assert!(
        two.claim_due_feeds(&new, within, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        two.claim_unfinished(&new, within, 10, false)
            .await
            .unwrap()
            .is_empty()
    );
    // The old holder goes silent; once its lease lapses, the other takes over.
    let taken_at = T0 + LEASE_MS + 1_000;
    assert_eq!(
        two.claim_due_feeds(&new, taken_at, 10).await.unwrap().len(),
        1
    );
    let taken = two
        .claim_unfinished(&new, taken_at, 10, false)
        .await
        .unwrap();
    assert!(matches!(&taken[..], [StoryWork::Process(t)] if t.story_id == story.story_id));
    // The old holder wakes up: its heartbeat renews nothing it lost, its
    // sign-off frees nothing, and it cannot claim the feed back.
    one.heartbeat(&old, taken_at + 1_000, &feeds, &stories)
        .await
        .unwrap();
    one.sign_off(&old.id).await.unwrap();
    assert!(
        one.claim_feed(&old, "a", taken_at + 2_000)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        one.claim_unfinished(&third, taken_at + 2_000, 10, true)
            .await
            .unwrap()
            .is_empty()
    );
    // The new holder renews the story only: the feed lapses, the story not.
    let renewed_at = taken_at + LEASE_MS / 2;
    two.heartbeat(&new, renewed_at, &[], &stories)
        .await
        .unwrap();
    let after_new_lease = taken_at + LEASE_MS + 500;
    assert_eq!(
        one.claim_due_feeds(&third, after_new_lease, 10)
            .await
            .unwrap()
            .len(),
        1,
        "the feed's lease was not renewed"
    );
    assert!(
        one.claim_unfinished(&third, after_new_lease, 10, false)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        one.claim_unfinished(&third, renewed_at + LEASE_MS + 1, 10, false)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// A replay reads the archive while two workers confirm messages: reading
/// after the last seq it saw, it must see every message once (a seq given
/// out before another but committed after it would be skipped for good).
pub(crate) async fn a_replay_reading_while_two_workers_publish_misses_nothing(
    one: SharedStore,
    two: SharedStore,
) {
    const STORIES: usize = 160;
    let items: Vec<_> = (0..STORIES)
        .map(|i| item(&format!("https://x.example/{i}"), &format!("g{i}"), "T"))
        .collect();
    let tasks = record_as(&*one, &claimant(1), "f", &items).await;
    for task in &tasks {
        one.save_pending(&pending(task, 1, "sha256:aa"))
            .await
            .unwrap();
    }
    let (first, second) = tasks.split_at(STORIES / 2);
    let publish = |store: SharedStore, ids: Vec<String>| async move {
        for id in ids {
            store.mark_published(&id, 1).await.unwrap();
        }
    };
    let ids = |tasks: &[crate::store::StoryTask]| -> Vec<String> {
        tasks.iter().map(|t| t.story_id.clone()).collect()
    };
    let publishers = tokio::spawn({
        let (a, b) = (
            publish(Arc::clone(&one), ids(first)),
            publish(Arc::clone(&two), ids(second)),
        );
        async move { at_once(move || a, move || b).await }
    });
    let mut seen: Vec<(i64, String)> = Vec::new();
    let mut last = 0;
    loop {
        // Finished before this read began: the read sees all they wrote.
        let done = publishers.is_finished();
        let batch = one.archived(last, None, None, 50).await.unwrap();
        let empty = batch.is_empty();
        if let Some(m) = batch.last() {
            last = m.seq;
        }
        seen.extend(batch.into_iter().map(|m| (m.seq, m.envelope.story_id)));
        if done && empty {
            break;
        }
    }
    publishers.await.unwrap();
    let distinct: HashSet<&String> = seen.iter().map(|s| &s.1).collect();
    assert_eq!(
        (seen.len(), distinct.len()),
        (STORIES, STORIES),
        "every message read once, none skipped"
    );
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "in seq order");
    assert_eq!(
        one.archived(0, None, None, STORIES).await.unwrap().len(),
        STORIES
    );
}
