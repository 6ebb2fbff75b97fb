//! WebSub end to end: the worker finds a feed's hub, subscribes through the
//! test hub (tests/common/hub.rs), answers its verification on the ops
//! endpoint, publishes what a signed notification brings and nothing a
//! forged one brings, falls back to polling when the hub dies, and
//! unsubscribes a feed that left the config.

mod common;

use common::Received;
use common::hub::Signing;
use common::pushed::{World, feed};
use common::stop;

fn titles(messages: &[Received]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m.body["title"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_notifications_are_published_and_forged_ones_are_not() {
    let world = World::new("websub-notify", 86_400).await;
    let (worker, mut seen) = world.start_subscribed("1h").await;
    let topic = world.topic();
    let form = &world.hub.forms()[0];
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(field("hub.mode").as_deref(), Some("subscribe"));
    assert_eq!(field("hub.topic"), Some(topic.clone()));
    assert!(
        field("hub.callback")
            .unwrap()
            .starts_with(&format!("http://{}/websub/", world.ops))
    );
    assert_eq!(field("hub.secret").map(|s| s.len()), Some(64));

    // A forged notification is answered like any other (the forger learns
    // nothing), counted, and publishes nothing.
    let forged = feed(&world.server, &world.hub.url, &["two"]);
    let status = world
        .hub
        .notify(&topic, forged.as_bytes(), Signing::Forged)
        .await;
    assert_eq!(status, Some(202));
    assert_eq!(
        world
            .metric("feedwire_push_notifications_total{outcome=\"bad_signature\"}")
            .await,
        1.0
    );

    // A signed one carrying the feed: its new story goes out.
    let pushed = feed(&world.server, &world.hub.url, &["one", "three"]);
    let status = world
        .hub
        .notify(&topic, pushed.as_bytes(), Signing::Good)
        .await;
    assert_eq!(status, Some(202));
    world.wait_for_story("Story three", &mut seen).await;

    // A signed ping without content: the worker fetches the feed itself.
    world.set_feed(&["one", "three", "four"]);
    let status = world.hub.notify(&topic, b"", Signing::Good).await;
    assert_eq!(status, Some(202));
    world.wait_for_story("Story four", &mut seen).await;

    let accepted = world
        .metric("feedwire_push_notifications_total{outcome=\"accepted\"}")
        .await;
    assert_eq!(accepted, 2.0);
    assert!(
        world.metric("feedwire_push_to_publish_seconds_count").await >= 2.0,
        "push-to-publish latency is measured"
    );
    assert_eq!(
        world
            .metric("feedwire_push_subscriptions{state=\"active\"}")
            .await,
        1.0
    );
    stop(worker).await;
    seen.extend(world.capture.drain().await);
    let titles = titles(&seen);
    assert!(!titles.contains(&"Story two".to_string()), "{titles:?}");
    assert_eq!(
        titles.iter().filter(|t| *t == "Story three").count(),
        1,
        "{titles:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_hub_leaves_the_feed_polled_again_when_the_lease_runs_out() {
    // Leases of 3 s: renewed while the hub lives, run out once it is gone.
    let world = World::new("websub-fallback", 3).await;
    let (worker, mut seen) = world.start_subscribed("1s").await;
    let topic = world.topic();
    world
        .hub
        .wait_for("a renewal verified", |hub| {
            hub.verifications()
                .iter()
                .filter(|(mode, t, echoed)| mode == "subscribe" && *t == topic && *echoed)
                .count()
                >= 2
        })
        .await;
    world.hub.kill();
    // A new story that only a poll can find: the hub is gone.
    world.set_feed(&["one", "five"]);
    world.wait_for_story("Story five", &mut seen).await;
    assert!(
        world
            .metric("feedwire_push_subscriptions{state=\"denied\"}")
            .await
            >= 1.0
    );
    stop(worker).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_feed_removed_from_the_config_is_unsubscribed() {
    let world = World::new("websub-remove", 86_400).await;
    let (worker, _) = world.start_subscribed("1h").await;
    let topic = world.topic();
    stop(worker).await;

    // Started again without the feed: the stored subscription is ended.
    let worker = world.start(false, "1h");
    world
        .hub
        .wait_for("the unsubscription verified", |hub| {
            hub.verifications()
                .iter()
                .any(|(mode, t, echoed)| mode == "unsubscribe" && *t == topic && *echoed)
        })
        .await;
    assert!(world.hub.subscriber(&topic).is_none());
    let unsubscribe = world.hub.forms().last().cloned().unwrap();
    assert!(unsubscribe.contains(&("hub.mode".into(), "unsubscribe".into())));
    stop(worker).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn feeds_check_prints_the_hub_and_topic_a_feed_names() {
    let world = World::new("websub-check", 60).await;
    let path = world.dir.path().join("feed.xml");
    std::fs::write(&path, feed(&world.server, &world.hub.url, &["one"])).unwrap();
    let output = common::feedwire(&["feeds", "check", path.to_str().unwrap()]).await;
    assert!(output.status.success(), "{}", common::stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let summary: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(
        summary["websub"],
        serde_json::json!({"hubs": [world.hub.url], "topic": world.topic()})
    );
}
