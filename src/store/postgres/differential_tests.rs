//! The PostgreSQL store against the SQLite one, call for call: random polls
//! of a few feeds over a small universe of links, guids, fragments and
//! titles (so keys collide, turn ambiguous, items change and repeat), with
//! confirms and unchanged looks in between. Every answer must be the same.

use crate::feed::FeedItem;
use crate::store::tests::{pending, record};
use crate::store::{SqliteStore, Store, StoryWork};

use super::tests::fresh;

fn random_item(rng: &mut fastrand::Rng) -> FeedItem {
    let link = match rng.u8(0..8) {
        0 => None,
        n @ 1..=3 => Some(format!("https://x.example/s{n}")),
        4 => Some("https://x.example/s1?utm_source=rss".to_string()),
        5 => Some(format!("https://live.example/blog#post-{}", rng.u8(1..3))),
        _ => Some("https://status.example/".to_string()),
    };
    let guid = match rng.u8(0..6) {
        0 => None,
        1 | 2 => Some(format!("{}", rng.u8(1..4))),
        3 => Some(format!(
            "https://x.example/s{}#{}",
            rng.u8(1..3),
            rng.u8(0..3)
        )),
        _ => Some(format!("inc-{}", rng.u8(1..4))),
    };
    FeedItem {
        link,
        guid,
        title: Some(format!("title {}", rng.u8(0..3))),
        summary: rng.bool().then(|| "summary".to_string()),
        ..FeedItem::default()
    }
}

async fn run(seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let sqlite = SqliteStore::in_memory().unwrap();
    let (pg, _scratch) = fresh().await;
    let stores: [&dyn Store; 2] = [&sqlite, &pg];
    for step in 0..120 {
        let context = format!("seed {seed}, step {step}");
        match rng.u8(0..10) {
            0..=5 => {
                let feed = ["a", "b", "c"][rng.usize(0..3)];
                let items: Vec<FeedItem> = (0..rng.usize(1..5))
                    .map(|_| random_item(&mut rng))
                    .collect();
                let mut answers = Vec::new();
                for store in stores {
                    answers.push(record(store, feed, &items).await);
                }
                assert_eq!(
                    answers[0], answers[1],
                    "{context}: record {feed} {items:#?}"
                );
            }
            6..=8 => {
                // Confirm, or look again and find unchanged, an open story.
                // Each store orders its work by its own clock's readings,
                // which two calls a moment apart can tie or split: the same
                // work is compared in story order.
                let by_story = |mut w: Vec<StoryWork>| {
                    w.sort_by(|a, b| a.story_id().cmp(b.story_id()));
                    w
                };
                let open = by_story(sqlite.unfinished(i64::MAX).await.unwrap());
                assert_eq!(
                    open,
                    by_story(pg.unfinished(i64::MAX).await.unwrap()),
                    "{context}"
                );
                let Some(StoryWork::Process(task)) =
                    open.get(rng.usize(0..open.len().max(1))).cloned()
                else {
                    continue;
                };
                let unchanged = task.published_revision > 0 && rng.bool();
                let mut answers = Vec::new();
                for store in stores {
                    answers.push(if unchanged {
                        store
                            .mark_unchanged(&task.story_id, task.item_version)
                            .await
                            .unwrap()
                    } else {
                        let revision = task.published_revision + 1;
                        store
                            .save_pending(&pending(&task, revision, "sha256:x"))
                            .await
                            .unwrap();
                        store
                            .mark_published(&task.story_id, revision)
                            .await
                            .unwrap()
                    });
                }
                assert_eq!(answers[0], answers[1], "{context}: confirm {task:?}");
            }
            _ => {
                // Each store stamps times with its own clock reading.
                let mut stats = Vec::new();
                for store in stores {
                    let mut s = store.stats().await.unwrap();
                    (s.archive_oldest_ms, s.archive_newest_ms) = (None, None);
                    stats.push(s);
                }
                assert_eq!(stats[0], stats[1], "{context}: stats");
            }
        }
    }
    assert_eq!(
        sqlite.stories_per_feed().await.unwrap(),
        pg.stories_per_feed().await.unwrap()
    );
    let archive = |m: Vec<crate::store::ArchivedMessage>| -> Vec<_> {
        m.into_iter()
            .map(|m| (m.seq, m.feed_id, m.envelope))
            .collect()
    };
    assert_eq!(
        archive(sqlite.archived(0, None, None, 1_000).await.unwrap()),
        archive(pg.archived(0, None, None, 1_000).await.unwrap())
    );
}

#[tokio::test]
async fn postgres_answers_as_sqlite_does_call_for_call() {
    for seed in 1..=6 {
        run(seed).await;
    }
}
