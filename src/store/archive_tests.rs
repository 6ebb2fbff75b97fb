//! The store's contract for the archive: publishing order, paging, time
//! filters, replay positions and retention.

use std::time::Duration;

use super::{item, pending, record};
use crate::store::Store;

pub(crate) async fn the_archive_pages_in_publishing_order_and_prunes_oldest_first(
    store: &dyn Store,
) {
    let items: Vec<_> = (0..6)
        .map(|i| item(&format!("https://x.example/{i}"), &format!("g{i}"), "T"))
        .collect();
    // Published in reverse: the archive's order is the publishing order.
    let mut tasks = record(store, "f", &items).await;
    tasks.reverse();
    for task in &tasks {
        store
            .save_pending(&pending(task, 1, "sha256:aa"))
            .await
            .unwrap();
        store.mark_published(&task.story_id, 1).await.unwrap();
        // Publishing times apart, for the time filters.
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let all = store.archived(0, None, None, 100).await.unwrap();
    let order: Vec<&str> = all.iter().map(|m| m.envelope.story_id.as_str()).collect();
    let published: Vec<&str> = tasks.iter().map(|t| t.story_id.as_str()).collect();
    assert_eq!(order, published);
    assert!(
        all.windows(2)
            .all(|w| w[0].seq < w[1].seq && w[0].published_ms < w[1].published_ms)
    );
    // Paging after a seq, and a window of publishing times.
    let page = store.archived(all[1].seq, None, None, 2).await.unwrap();
    assert_eq!(page, all[2..4]);
    let window = store
        .archived(0, Some(all[2].published_ms), Some(all[3].published_ms), 100)
        .await
        .unwrap();
    assert_eq!(window, all[2..4]);
    // Where an interrupted replay got to.
    assert_eq!(store.replay_position("r").await.unwrap(), None);
    store
        .save_replay_position("r", Some(all[1].seq))
        .await
        .unwrap();
    store
        .save_replay_position("r", Some(all[3].seq))
        .await
        .unwrap();
    assert_eq!(store.replay_position("r").await.unwrap(), Some(all[3].seq));
    store.save_replay_position("r", None).await.unwrap();
    assert_eq!(store.replay_position("r").await.unwrap(), None);
    // Retention: by age, then the oldest until the bodies fit.
    let body = all[0].envelope.body.len() as u64;
    assert_eq!(store.stats().await.unwrap().archive_bytes, 6 * body);
    assert_eq!(
        store
            .prune_archive(Some(all[2].published_ms), None)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store.prune_archive(None, Some(3 * body - 1)).await.unwrap(),
        2
    );
    assert_eq!(store.prune_archive(None, Some(2 * body)).await.unwrap(), 0);
    assert_eq!(store.archived(0, None, None, 100).await.unwrap(), all[4..]);
    let stats = store.stats().await.unwrap();
    assert_eq!(
        (stats.archived_messages, stats.archive_bytes),
        (2, 2 * body)
    );
    assert_eq!(stats.published, 6, "pruning the archive leaves the stories");
}
