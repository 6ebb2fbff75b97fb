//! The subscription contract, on every backend.

use super::*;
use crate::push::subscription::{Mode, State, Subscription};
use url::Url;

/// A subscription of `feed_id`, active until `lease_until_ms`.
pub(crate) fn subscription(feed_id: &str, lease_until_ms: i64) -> SubscriptionRecord {
    SubscriptionRecord {
        feed_id: feed_id.into(),
        subscription: Subscription {
            state: State::Active { lease_until_ms },
            ..Subscription::new(
                Url::parse("https://hub.example/").unwrap(),
                Url::parse(&format!("https://news.example/{feed_id}.xml")).unwrap(),
            )
        },
        asked_ms: 1_000,
    }
}

pub(crate) async fn subscriptions_are_found_by_id_and_one_per_feed(store: &dyn Store) {
    store.sync_feeds(&[feed("a"), feed("b")]).await.unwrap();
    let a = subscription("a", 9_000);
    let mut b = subscription("b", 0);
    b.subscription.state = State::Denied {
        reason: Some("no".into()),
    };
    store.save_subscription(&a).await.unwrap();
    store.save_subscription(&b).await.unwrap();
    assert_eq!(
        store.subscription(&a.subscription.id).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        store.subscriptions().await.unwrap(),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(store.subscription("0123").await.unwrap(), None);

    // A hub's verification changes the state, found by id.
    for state in [
        State::Pending(Mode::Unsubscribe),
        State::Pending(Mode::Subscribe),
        State::Ended,
        State::Active { lease_until_ms: 77 },
    ] {
        assert!(
            store
                .set_subscription_state(&a.subscription.id, &state)
                .await
                .unwrap()
        );
        let found = store
            .subscription(&a.subscription.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.subscription.state, state);
    }
    assert!(
        !store
            .set_subscription_state("abcd", &State::Ended)
            .await
            .unwrap()
    );

    // A new subscription of a feed replaces its old one.
    let again = subscription("a", 10_000);
    store.save_subscription(&again).await.unwrap();
    assert_eq!(store.subscription(&a.subscription.id).await.unwrap(), None);
    assert_eq!(
        store.subscriptions().await.unwrap(),
        vec![again.clone(), b.clone()]
    );
    store
        .delete_subscription(&again.subscription.id)
        .await
        .unwrap();
    assert_eq!(store.subscriptions().await.unwrap(), vec![b]);
}

pub(crate) async fn a_lapsed_push_makes_its_feed_due_now(store: &dyn Store) {
    store.sync_feeds(&[feed("a")]).await.unwrap();
    let mut state = store.feed_state("a").await.unwrap().unwrap();
    state.next_due_ms = 50_000;
    store.save_feed_state(&state).await.unwrap();
    store.expedite_feed("a", 60_000).await.unwrap();
    assert_eq!(
        store.feed_state("a").await.unwrap().unwrap().next_due_ms,
        50_000
    );
    store.expedite_feed("a", 20_000).await.unwrap();
    assert_eq!(
        store.feed_state("a").await.unwrap().unwrap().next_due_ms,
        20_000
    );
    store.expedite_feed("missing", 0).await.unwrap();
}
