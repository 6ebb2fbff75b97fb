//! WebSub push to publish: the real worker subscribed through the test hub
//! (tests/common/hub.rs), then `--notifications` signed notifications sent
//! one after another, each a feed document with one new story. Prints, per
//! notification, the time from the hub's POST to the story's message on a
//! consumer's queue (p50, p99, max), and the worker's own
//! `push_to_publish` histogram count.
//!
//! `cargo bench --bench push [-- --notifications N]` (RabbitMQ on loopback).

#[path = "../tests/common/mod.rs"]
#[allow(unused_imports)]
mod common;

use std::time::{Duration, Instant};

use common::hub::Signing;
use common::pushed::{World, add_story, feed};
use common::stop;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n = arg("--notifications", 100);
    let world = World::new("bench-push", 86_400).await;
    let (worker, _) = world.start_subscribed("1h").await;
    let topic = world.topic();
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let slug = format!("n{i}");
        add_story(&world.server, &slug);
        let body = feed(&world.server, &world.hub.url, &[&slug]);
        let title = format!("Story {slug}");
        let sent = Instant::now();
        let status = world
            .hub
            .notify(&topic, body.as_bytes(), Signing::Good)
            .await;
        assert_eq!(status, Some(202));
        'wait: loop {
            for message in world.capture.drain().await {
                if message.body["title"] == title.as_str() {
                    break 'wait;
                }
            }
            assert!(
                sent.elapsed() < Duration::from_secs(60),
                "{title} never came"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        latencies.push(sent.elapsed());
    }
    let counted = world.metric("feedwire_push_to_publish_seconds_count").await;
    let sum = world.metric("feedwire_push_to_publish_seconds_sum").await;
    stop(worker).await;
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("push bench: {n} notifications, one new story each, sent one after another");
    println!(
        "hub POST -> message on the consumer's queue: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap())
    );
    println!(
        "worker's push_to_publish histogram: {counted} stories, mean {:.1} ms",
        if counted > 0.0 {
            sum / counted * 1000.0
        } else {
            0.0
        }
    );
}
