//! The store's contract, checked on every backend: identity across feeds
//! and documents, the story life cycle, updates that arrive while a story
//! is still on its way, and two stores on one database racing for the same
//! feeds and stories.

use super::*;
use crate::dedup::{DocumentIdentity, identify};
use crate::message::{ArticleEvent, message_id};

#[path = "archive_tests.rs"]
mod archive;
#[path = "claim_tests.rs"]
mod claims;
#[path = "near_tests.rs"]
mod near;
#[path = "race_tests.rs"]
mod races;
#[path = "subscription_tests.rs"]
mod subscriptions;
pub(crate) use archive::*;
pub(crate) use claims::*;
pub(crate) use near::*;
pub(crate) use races::*;
pub(crate) use subscriptions::*;

pub(crate) fn item(link: &str, guid: &str, title: &str) -> FeedItem {
    FeedItem {
        link: Some(link.into()),
        guid: Some(guid.into()),
        title: Some(title.into()),
        ..FeedItem::default()
    }
}

pub(crate) fn discovered(items: &[FeedItem], document: &DocumentIdentity) -> Vec<DiscoveredItem> {
    document
        .stories
        .iter()
        .map(|(index, identity)| DiscoveredItem::new(identity.clone(), &items[*index]))
        .collect()
}

/// The worker the contract tests record as.
pub(crate) fn worker() -> Claimant {
    Claimant::new("test-host", 1, Duration::from_secs(60))
}

/// Records one document of `feed_id` as the pipeline does.
pub(crate) async fn record(store: &dyn Store, feed_id: &str, items: &[FeedItem]) -> Vec<StoryTask> {
    record_as(store, &worker(), feed_id, items).await
}

pub(crate) async fn record_as(
    store: &dyn Store,
    claimant: &Claimant,
    feed_id: &str,
    items: &[FeedItem],
) -> Vec<StoryTask> {
    let document = identify(feed_id, items);
    store
        .record_items(
            claimant,
            feed_id,
            &discovered(items, &document),
            &document.ambiguous,
        )
        .await
        .unwrap()
}

/// A new story of feed `f` from `item`, its first message pending.
pub(crate) async fn pending_story(store: &dyn Store, item: FeedItem) -> StoryTask {
    let task = record(store, "f", &[item]).await.remove(0);
    store
        .save_pending(&pending(&task, 1, "sha256:aa"))
        .await
        .unwrap();
    task
}

pub(crate) fn pending(task: &StoryTask, revision: u32, hash: &str) -> PendingMessage {
    let story_id = &task.story_id;
    PendingMessage {
        envelope: Envelope {
            story_id: story_id.clone(),
            revision,
            message_id: message_id(story_id, revision),
            event: if revision == 1 {
                ArticleEvent::Created
            } else {
                ArticleEvent::Updated
            },
            routing_key: "article.a".into(),
            timestamp: 1,
            body: format!("{{\"title\":{:?}}}", task.item.title).into_bytes(),
        },
        content_hash: hash.into(),
        status: ExtractionStatus::Ok,
        item_version: task.item_version,
    }
}

/// Builds and confirms revision `revision` of `task`.
async fn publish(store: &dyn Store, task: &StoryTask, revision: u32) -> Option<StoryTask> {
    let hash = format!("sha256:{:?}", task.item.title);
    store
        .save_pending(&pending(task, revision, &hash))
        .await
        .unwrap();
    store
        .mark_published(&task.story_id, revision)
        .await
        .unwrap()
}

/// Runs each named contract test against a store made by `$store` (an
/// expression, `.await` allowed, giving the store and whatever must live
/// as long as it: a temporary directory, a database schema), one
/// `#[tokio::test]` per contract.
macro_rules! contract_tests {
    ($store:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let (store, _keep) = $store;
                crate::store::tests::$name(&store).await;
            }
        )*
    };
}
pub(crate) use contract_tests;

/// As [`contract_tests!`] for the contracts of two stores on one database
/// (two workers): `$pair` gives both and what must outlive them. On two
/// runtime threads, so the two really run at once.
macro_rules! pair_contract_tests {
    ($pair:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (one, two, _keep) = $pair;
                crate::store::tests::$name(std::sync::Arc::new(one), std::sync::Arc::new(two)).await;
            }
        )*
    };
}
pub(crate) use pair_contract_tests;

/// Every contract test, by name, for [`contract_tests!`].
macro_rules! all_contracts {
    ($store:expr) => {
        crate::store::tests::contract_tests!($store;
new_story_once_across_feeds_and_guid_variants,
            publish_lifecycle_and_resume,
            changed_item_reopens_a_published_story,
            an_update_while_the_story_is_on_its_way_reopens_it_after_the_confirm,
            an_update_while_the_page_is_fetched_is_not_lost,
            confirm_of_an_old_revision_does_not_finish_a_newer_one,
            bare_guids_of_two_sites_are_two_stories,
            a_link_shared_by_different_items_stops_matching,
            one_story_twice_in_a_document_is_recorded_once_and_stays_quiet,
            page_attempts_are_counted_until_the_story_is_confirmed,
            a_status_page_seen_one_incident_at_a_time_keeps_them_apart,
            a_reissued_guid_with_the_same_text_is_the_same_story,
            a_reissued_guid_with_an_edited_title_is_the_same_story,
            a_guid_repeated_for_different_stories_does_not_swallow_them,
            near_prints_match_the_earliest_copy_of_the_window,
            the_config_wins_and_feeds_added_by_command_stay,
            a_due_feed_is_claimed_by_one_worker_until_its_poll_is_saved,
            polls_saved_together_are_each_kept_and_released,
            a_dead_workers_claims_lapse_and_a_heartbeat_keeps_them,
            a_released_story_waits_and_a_signed_off_worker_frees_at_once,
            an_update_does_not_take_a_story_another_worker_holds,
            the_archive_pages_in_publishing_order_and_prunes_oldest_first,
            subscriptions_are_found_by_id_and_one_per_feed,
            a_lapsed_push_makes_its_feed_due_now,
        );
    };
}
pub(crate) use all_contracts;

/// Every contract of two stores on one database, for [`pair_contract_tests!`].
macro_rules! all_pair_contracts {
    ($pair:expr) => {
        crate::store::tests::pair_contract_tests!($pair;
            two_workers_recording_one_story_from_two_feeds_create_one_story,
            two_workers_claiming_due_feeds_get_disjoint_sets,
            two_workers_claiming_unfinished_stories_get_disjoint_sets,
            a_lapsed_lease_is_taken_over_and_the_old_holder_cannot_renew_it,
            a_replay_reading_while_two_workers_publish_misses_nothing,
        );
    };
}
pub(crate) use all_pair_contracts;

mod sqlite {
    crate::store::tests::all_contracts!((crate::store::SqliteStore::in_memory().unwrap(), ()));

    /// Two stores on one file: two processes of one host.
    fn pair() -> (
        crate::store::SqliteStore,
        crate::store::SqliteStore,
        tempfile::TempDir,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.db");
        let one = crate::store::SqliteStore::open(&path).unwrap();
        let two = crate::store::SqliteStore::open(&path).unwrap();
        (one, two, dir)
    }

    crate::store::tests::all_pair_contracts!(pair());
}

pub(crate) async fn new_story_once_across_feeds_and_guid_variants(store: &dyn Store) {
    let a = item(
        "https://x.example/s1?at_medium=RSS",
        "https://x.example/s1#0",
        "T",
    );
    let b = item("https://x.example/s1", "https://x.example/s1#3", "T");
    let work = record(store, "feed-a", &[a.clone(), a.clone()]).await;
    assert_eq!(
        work.len(),
        1,
        "an item repeated in one document is one story"
    );
    assert!(record(store, "feed-b", &[b]).await.is_empty());
    assert!(record(store, "feed-a", &[a]).await.is_empty());
}

pub(crate) async fn publish_lifecycle_and_resume(store: &dyn Store) {
    let task = record(store, "f", &[item("https://x.example/s1", "g1", "T")])
        .await
        .remove(0);
    assert_eq!(task.url.as_deref(), Some("https://x.example/s1"));
    let unfinished = store.unfinished(i64::MAX).await.unwrap();
    assert_eq!(unfinished, vec![StoryWork::Process(Box::new(task.clone()))]);

    let built = pending(&task, 1, "sha256:aa");
    store.save_pending(&built).await.unwrap();
    assert_eq!(
        store.unfinished(i64::MAX).await.unwrap(),
        vec![StoryWork::Republish(built.envelope)]
    );

    assert_eq!(store.mark_published(&task.story_id, 1).await.unwrap(), None);
    assert!(store.unfinished(i64::MAX).await.unwrap().is_empty());
    let record = store.story(&task.story_id).await.unwrap().unwrap();
    assert_eq!(record.state, StoryState::Published);
    assert_eq!(record.revision, 1);
    assert_eq!(record.content_hash.as_deref(), Some("sha256:aa"));
}

pub(crate) async fn changed_item_reopens_a_published_story(store: &dyn Store) {
    let task = pending_story(store, item("https://x.example/s1", "g1", "Old title")).await;
    store.mark_published(&task.story_id, 1).await.unwrap();

    let changed = item("https://x.example/s1", "g1", "New title");
    let work = record(store, "f", std::slice::from_ref(&changed)).await;
    assert_eq!(work.len(), 1);
    assert_eq!(work[0].published_revision, 1);
    assert_eq!(work[0].published_hash.as_deref(), Some("sha256:aa"));
    assert_eq!(work[0].published_status, Some(ExtractionStatus::Ok));
    assert_eq!(work[0].item.title.as_deref(), Some("New title"));
    // Seen again unchanged: nothing more to do.
    assert_eq!(
        store
            .mark_unchanged(&task.story_id, work[0].item_version)
            .await
            .unwrap(),
        None
    );
    assert!(record(store, "f", &[changed]).await.is_empty());
    assert!(store.unfinished(i64::MAX).await.unwrap().is_empty());
}

pub(crate) async fn an_update_while_the_story_is_on_its_way_reopens_it_after_the_confirm(
    store: &dyn Store,
) {
    let first = record(store, "f", &[item("https://x.example/s", "g", "Old title")])
        .await
        .remove(0);
    // The message of the old title is built and waiting for the broker...
    store
        .save_pending(&pending(&first, 1, "sha256:old"))
        .await
        .unwrap();
    // ...when the feed corrects the title.
    let work = record(
        store,
        "f",
        &[item("https://x.example/s", "g", "Corrected title")],
    )
    .await;
    assert!(work.is_empty(), "the story is still on its way");
    let reopened = store
        .mark_published(&first.story_id, 1)
        .await
        .unwrap()
        .expect("the corrected item must be processed");
    assert_eq!(reopened.item.title.as_deref(), Some("Corrected title"));
    assert_eq!(reopened.published_revision, 1);
    assert_eq!(store.unfinished(i64::MAX).await.unwrap().len(), 1);
    // The corrected revision goes out, and then the story is done.
    assert_eq!(publish(store, &reopened, 2).await, None);
    assert!(store.unfinished(i64::MAX).await.unwrap().is_empty());
    assert_eq!(
        store
            .story(&first.story_id)
            .await
            .unwrap()
            .unwrap()
            .revision,
        2
    );
}

pub(crate) async fn an_update_while_the_page_is_fetched_is_not_lost(store: &dyn Store) {
    let first = record(store, "f", &[item("https://x.example/s", "g", "T1")])
        .await
        .remove(0);
    store
        .save_pending(&pending(&first, 1, "sha256:t1"))
        .await
        .unwrap();
    store.mark_published(&first.story_id, 1).await.unwrap();
    // Reopened by an edit, and while its page is fetched, edited again.
    let second = record(store, "f", &[item("https://x.example/s", "g", "T2")])
        .await
        .remove(0);
    let third = record(store, "f", &[item("https://x.example/s", "g", "T3")]).await;
    assert_eq!(
        third.len(),
        1,
        "not in flight here, so it is handed out again"
    );
    // The worker holding T2 finds its title unchanged... and the story stays open.
    let reopened = store
        .mark_unchanged(&second.story_id, second.item_version)
        .await
        .unwrap()
        .expect("T3 is newer than what was looked at");
    assert_eq!(reopened.item.title.as_deref(), Some("T3"));
}

pub(crate) async fn confirm_of_an_old_revision_does_not_finish_a_newer_one(store: &dyn Store) {
    let task = record(store, "f", &[item("https://x.example/s", "g", "T")])
        .await
        .remove(0);
    store
        .save_pending(&pending(&task, 2, "sha256:bb"))
        .await
        .unwrap();
    store.mark_published(&task.story_id, 1).await.unwrap();
    assert_eq!(store.unfinished(i64::MAX).await.unwrap().len(), 1);
}

pub(crate) async fn bare_guids_of_two_sites_are_two_stories(store: &dyn Store) {
    let bare = |guid: &str, title: &str| FeedItem {
        guid: Some(guid.into()),
        title: Some(title.into()),
        ..FeedItem::default()
    };
    assert_eq!(
        record(store, "site-a", &[bare("1", "A1"), bare("2", "A2")])
            .await
            .len(),
        2
    );
    assert_eq!(
        record(store, "site-b", &[bare("1", "B1"), bare("2", "B2")])
            .await
            .len(),
        2
    );
    assert_eq!(store.stats().await.unwrap().stories, 4);
}

pub(crate) async fn a_link_shared_by_different_items_stops_matching(store: &dyn Store) {
    let status = |guid: &str| item("https://status.example/", guid, guid);
    assert_eq!(
        record(store, "status", &[status("incident-1")]).await.len(),
        1
    );
    let work = record(
        store,
        "status",
        &[
            status("incident-1"),
            status("incident-2"),
            status("incident-3"),
        ],
    )
    .await;
    assert_eq!(work.len(), 2, "two new incidents");
    // A later incident alone must not be taken for the first one by its link.
    assert_eq!(
        record(store, "status", &[status("incident-4")]).await.len(),
        1
    );
    assert_eq!(store.stats().await.unwrap().stories, 4);
    // And polling the same page again changes nothing.
    let again = [
        status("incident-2"),
        status("incident-3"),
        status("incident-4"),
    ];
    assert!(record(store, "status", &again).await.is_empty());
    assert!(record(store, "status", &again).await.is_empty());
}

pub(crate) async fn one_story_twice_in_a_document_is_recorded_once_and_stays_quiet(
    store: &dyn Store,
) {
    // BBC lists a story twice, `#1` and `#8`, with two wordings of its title.
    let a = item(
        "https://www.bbc.com/sport/a?at_medium=RSS",
        "https://www.bbc.com/sport/a#1",
        "Their day",
    );
    let b = item(
        "https://www.bbc.com/sport/a?at_medium=RSS",
        "https://www.bbc.com/sport/a#8",
        "Rochdale v York: their day",
    );
    let task = record(store, "front", &[a.clone(), b.clone()])
        .await
        .remove(0);
    publish(store, &task, 1).await;
    for _ in 0..3 {
        assert!(
            record(store, "front", &[a.clone(), b.clone()])
                .await
                .is_empty(),
            "the story's fingerprint must not flip between its two items"
        );
    }
}

pub(crate) async fn page_attempts_are_counted_until_the_story_is_confirmed(store: &dyn Store) {
    let task = record(store, "f", &[item("https://x.example/s", "g", "T")])
        .await
        .remove(0);
    assert_eq!(store.begin_attempt(&task.story_id).await.unwrap(), 1);
    assert_eq!(store.begin_attempt(&task.story_id).await.unwrap(), 2);
    publish(store, &task, 1).await;
    assert_eq!(store.begin_attempt(&task.story_id).await.unwrap(), 1);
}

pub(crate) async fn a_status_page_seen_one_incident_at_a_time_keeps_them_apart(store: &dyn Store) {
    let incident = |guid: &str, title: &str| item("https://status.example/", guid, title);
    let second = record(store, "status", &[incident("inc-2", "Login errors")])
        .await
        .remove(0);
    publish(store, &second, 1).await;
    let first = record(store, "status", &[incident("inc-1", "API degraded")]).await;
    assert_eq!(first.len(), 1);
    assert_eq!(
        first[0].published_revision, 0,
        "a new story, not an update of inc-2"
    );
    assert_ne!(first[0].story_id, second.story_id);
    publish(store, &first[0], 1).await;
    assert!(
        record(store, "status", &[incident("inc-2", "Login errors")])
            .await
            .is_empty()
    );
    assert!(
        record(store, "status", &[incident("inc-1", "API degraded")])
            .await
            .is_empty()
    );
}

pub(crate) async fn a_reissued_guid_with_the_same_text_is_the_same_story(store: &dyn Store) {
    let task = record(
        store,
        "f",
        &[item("https://x.example/s", "guid-old", "Same")],
    )
    .await
    .remove(0);
    publish(store, &task, 1).await;
    assert!(
        record(
            store,
            "f",
            &[item("https://x.example/s", "guid-new", "Same")]
        )
        .await
        .is_empty()
    );
    assert_eq!(store.stats().await.unwrap().stories, 1);
}
