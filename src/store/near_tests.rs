//! The store's contract for near-duplicate prints and for identity that
//! the text decides, on every backend.

use super::*;
use crate::dedup::near::SLOTS;

/// A print whose slots all derive from `seed`: two seeds share no slot.
fn print(seed: u16) -> TextPrint {
    TextPrint {
        shingles: 200,
        slots: std::array::from_fn(|i| seed.wrapping_mul(100).wrapping_add(i as u16)),
    }
}

/// A new story of feed `f`, its id.
async fn story(store: &dyn Store, path: &str) -> String {
    let link = format!("https://near.example/{path}");
    record(store, "f", &[item(&link, path, path)])
        .await
        .remove(0)
        .story_id
}

fn ids(found: &[NearPrint]) -> Vec<&str> {
    found.iter().map(|p| p.story_id.as_str()).collect()
}

pub(crate) async fn near_prints_are_found_among_earlier_stories_of_the_window(store: &dyn Store) {
    let a = story(store, "a").await;
    let b = story(store, "b").await;
    let c = story(store, "c").await;
    store.save_print(&a, &print(1), &a, 1_000, 0).await.unwrap();
    store.save_print(&b, &print(2), &b, 1_500, 0).await.unwrap();

    // Another story with a's text finds a (its URL, its own cluster), not b.
    let found = store.near_candidates(&c, &print(1), 0).await.unwrap();
    assert_eq!(ids(&found), [a.as_str()]);
    assert_eq!(found[0].url.as_deref(), Some("https://near.example/a"));
    assert_eq!(found[0].cluster, a);
    assert_eq!(found[0].print, print(1));
    // One band in common is enough to be a candidate.
    let mut one_band = print(3);
    one_band.slots[SLOTS - 2..].copy_from_slice(&print(1).slots[SLOTS - 2..]);
    let found = store.near_candidates(&c, &one_band, 0).await.unwrap();
    assert_eq!(ids(&found), [a.as_str()]);
    // Outside the window: nothing.
    assert!(store.near_candidates(&c, &print(1), 1_001).await.unwrap().is_empty());

    // c copies a: it joins a's cluster. A later story finds both, earliest first.
    store.save_print(&c, &print(1), &a, 2_000, 0).await.unwrap();
    let found = store.near_candidates("later", &print(1), 0).await.unwrap();
    assert_eq!(ids(&found), [a.as_str(), c.as_str()]);
    assert!(found.iter().all(|p| p.cluster == a));

    // A revision of a is never its own copy, nor a copy of c, printed after
    // it; it keeps its place before c when its text changes.
    assert!(store.near_candidates(&a, &print(1), 0).await.unwrap().is_empty());
    store.save_print(&a, &print(4), &a, 3_000, 0).await.unwrap();
    assert!(store.near_candidates(&c, &print(1), 0).await.unwrap().is_empty());
    let found = store.near_candidates("later", &print(4), 0).await.unwrap();
    assert_eq!(ids(&found), [a.as_str()]);
    assert_eq!(found[0].print, print(4));

    // Prints older than the window go as new ones are kept, bands and all.
    let d = story(store, "d").await;
    store.save_print(&d, &print(5), &d, 9_000, 1_600).await.unwrap();
    assert!(store.near_candidates("later", &print(4), 0).await.unwrap().is_empty());
    assert!(store.near_candidates("later", &print(2), 0).await.unwrap().is_empty());
    let found = store.near_candidates("later", &print(1), 0).await.unwrap();
    assert_eq!(ids(&found), [c.as_str()]);
}

/// An item of feed `f` whose summary is `text` (long enough to decide).
fn told(link: &str, guid: &str, title: &str, text: &str) -> FeedItem {
    FeedItem {
        summary: Some(format!(
            "{text}: the story as the feed tells it, in words enough to decide."
        )),
        ..item(link, guid, title)
    }
}

pub(crate) async fn a_reissued_guid_with_an_edited_title_is_the_same_story(store: &dyn Store) {
    let link = "https://dw.example/a-123";
    let first = record(store, "dw", &[told(link, "guid-1", "Vote", "Harbour")])
        .await
        .remove(0);
    publish(store, &first, 1).await;
    // The feed re-issues the guid with an edited title: one story, updated.
    let work = record(store, "dw", &[told(link, "guid-2", "Vote passes", "Harbour")]).await;
    assert_eq!(work.len(), 1);
    assert_eq!(work[0].story_id, first.story_id);
    assert_eq!(work[0].published_revision, 1);
    publish(store, &work[0], 2).await;
    assert!(
        record(store, "dw", &[told(link, "guid-2", "Vote passes", "Harbour")])
            .await
            .is_empty()
    );
    // Another guid on that link with other text is another story, as on a
    // status page.
    let other = record(store, "dw", &[told(link, "guid-3", "Storm", "Storm")]).await;
    assert_eq!(other.len(), 1);
    assert_ne!(other[0].story_id, first.story_id);
    assert_eq!(other[0].published_revision, 0);
    assert_eq!(store.stats().await.unwrap().stories, 2);
}

pub(crate) async fn a_guid_repeated_for_different_stories_does_not_swallow_them(
    store: &dyn Store,
) {
    let one = record(
        store,
        "blog",
        &[told("https://blog.example/one", "post", "One", "Harbour")],
    )
    .await
    .remove(0);
    publish(store, &one, 1).await;
    // The same guid, a new link, other text: a new story.
    let two = record(
        store,
        "blog",
        &[told("https://blog.example/two", "post", "Two", "Storm")],
    )
    .await;
    assert_eq!(two.len(), 1);
    assert_ne!(two[0].story_id, one.story_id);
    assert_eq!(two[0].published_revision, 0);
    publish(store, &two[0], 1).await;
    // The first story is still known by its link.
    assert!(
        record(
            store,
            "blog",
            &[told("https://blog.example/one", "post", "One", "Harbour")]
        )
        .await
        .is_empty()
    );
    // The same guid, a new link, the same text: the story moved (a slug
    // edited with its title), not a new one.
    let three = record(
        store,
        "site",
        &[told("https://site.example/vote", "s-1", "Vote", "Vote")],
    )
    .await
    .remove(0);
    publish(store, &three, 1).await;
    let moved = record(
        store,
        "site",
        &[told("https://site.example/vote-passes", "s-1", "Vote passes", "Vote")],
    )
    .await;
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].story_id, three.story_id);
    assert_eq!(moved[0].published_revision, 1);
}
