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

/// Prints `print` as `story_id` at `now_ms`, the window starting at
/// `since_ms`: the earlier story it matched, and its cluster.
async fn print_as(
    store: &dyn Store,
    story_id: &str,
    print: &TextPrint,
    now_ms: i64,
    since_ms: i64,
) -> Option<(String, String)> {
    let lookup = PrintLookup {
        since_ms,
        now_ms,
        min_similarity: crate::dedup::near::DEFAULT_MIN_SIMILARITY,
    };
    let found = store.match_print(story_id, print, lookup).await.unwrap();
    found.map(|m| (m.story_id, m.cluster))
}

pub(crate) async fn near_prints_match_the_earliest_copy_of_the_window(store: &dyn Store) {
    let a = story(store, "a").await;
    let b = story(store, "b").await;
    assert_eq!(print_as(store, &a, &print(1), 1_000, 0).await, None);
    assert_eq!(print_as(store, &b, &print(2), 1_500, 0).await, None);

    // A story with a's text matches a, with a's URL, and joins its cluster.
    let lookup = PrintLookup {
        since_ms: 0,
        now_ms: 2_000,
        min_similarity: 0.6,
    };
    let found = store.match_print("c", &print(1), lookup).await.unwrap();
    let expected = NearMatch {
        story_id: a.clone(),
        url: Some("https://near.example/a".into()),
        cluster: a.clone(),
        similarity: 1.0,
    };
    assert_eq!(found, Some(expected));
    // Half its slots in common (six bands of twelve): the earliest of a
    // and c, a, with the similarity of its estimate.
    let mut half = print(3);
    half.slots[..SLOTS / 2].copy_from_slice(&print(1).slots[..SLOTS / 2]);
    let lookup = PrintLookup {
        now_ms: 2_500,
        ..lookup
    };
    // Below the threshold: no match (and "d0" is printed, its own cluster).
    let strict = PrintLookup {
        min_similarity: 0.9,
        ..lookup
    };
    assert_eq!(store.match_print("d0", &half, strict).await.unwrap(), None);
    let found = store
        .match_print("d", &half, lookup)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.story_id.as_str(), found.cluster.as_str()),
        (a.as_str(), a.as_str())
    );
    assert_eq!(found.similarity, print(1).similarity(&half));

    // A revision of a matches neither itself nor its copies c, d0 and d,
    // printed after it, and keeps its place in time (first printed at 1000).
    assert_eq!(print_as(store, &a, &print(1), 3_000, 0).await, None);
    // Outside the window, a is not found: c is, in a's cluster.
    assert_eq!(
        print_as(store, "e", &print(1), 3_500, 1_001).await,
        Some(("c".into(), a.clone()))
    );

    // Prints made before the window go as new ones are kept, bands and all.
    assert_eq!(print_as(store, "f", &print(2), 9_000, 1_600).await, None);
    assert_eq!(
        print_as(store, "g", &print(2), 9_100, 0).await,
        Some(("f".into(), "f".into())),
        "b's print is gone"
    );
    assert_eq!(
        print_as(store, "h", &print(1), 9_200, 0).await,
        Some(("c".into(), a.clone())),
        "a's print is gone"
    );
    // A revision of a story whose print has left the window is printed
    // anew, in the window again.
    assert_eq!(print_as(store, "f", &print(2), 20_000, 10_000).await, None);
    assert_eq!(
        print_as(store, "i", &print(2), 20_100, 10_000).await,
        Some(("f".into(), "f".into()))
    );
}

#[test]
fn the_earliest_candidate_similar_enough_is_the_match() {
    let candidate = |id: &str, print: TextPrint| NearPrint {
        story_id: id.into(),
        url: None,
        cluster: "root".into(),
        print,
    };
    let candidates = vec![
        candidate("unrelated", print(9)),
        candidate("original", print(1)),
        candidate("later-copy", print(1)),
    ];
    let found = earliest_match(&print(1), candidates.clone().into_iter().map(Ok), 0.6)
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.story_id.as_str(), found.similarity),
        ("original", 1.0)
    );
    assert_eq!(found.cluster, "root");
    assert_eq!(
        earliest_match(&print(1), candidates[..1].iter().cloned().map(Ok), 0.6).unwrap(),
        None
    );
    // Candidates after the match are not read: a failing read there is
    // no error, one before it is.
    let broken = || Err(StoreError::Invalid("unreadable".into()));
    let read_to_match = candidates[..2]
        .iter()
        .cloned()
        .map(Ok)
        .chain(std::iter::once_with(broken));
    assert!(
        earliest_match(&print(1), read_to_match, 0.6)
            .unwrap()
            .is_some()
    );
    let broken_before = std::iter::once_with(broken).chain(candidates.into_iter().map(Ok));
    assert!(earliest_match(&print(1), broken_before, 0.6).is_err());
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
    let work = record(
        store,
        "dw",
        &[told(link, "guid-2", "Vote passes", "Harbour")],
    )
    .await;
    assert_eq!(work.len(), 1);
    assert_eq!(work[0].story_id, first.story_id);
    assert_eq!(work[0].published_revision, 1);
    publish(store, &work[0], 2).await;
    assert!(
        record(
            store,
            "dw",
            &[told(link, "guid-2", "Vote passes", "Harbour")]
        )
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

pub(crate) async fn a_guid_repeated_for_different_stories_does_not_swallow_them(store: &dyn Store) {
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
        &[told(
            "https://site.example/vote-passes",
            "s-1",
            "Vote passes",
            "Vote",
        )],
    )
    .await;
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].story_id, three.story_id);
    assert_eq!(moved[0].published_revision, 1);
}
