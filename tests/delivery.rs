//! Delivery against the real RabbitMQ: what the broker returns is never
//! taken for delivered, however many messages are in flight.

mod common;

use std::time::Duration;

use common::{BROKER_URL, Capture};
use feedwire::config::BrokerConfig;
use feedwire::message::{ArticleEvent, Envelope, message_id};
use feedwire::publish::{AmqpSink, PublishError};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

/// A sink on the capture's exchange, routing by feed id, declaring no queues.
async fn sink_for(capture: &Capture) -> AmqpSink {
    let config = BrokerConfig {
        url: BROKER_URL.into(),
        exchange: capture.exchange.clone(),
        routing_key: "article.{feed_id}".into(),
        confirm_timeout: Duration::from_secs(30),
        queues: Vec::new(),
    };
    AmqpSink::connect(config, &CancellationToken::new())
        .await
        .unwrap()
}

fn envelope(n: usize, routing_key: &str) -> Envelope {
    let story_id = format!("{n:032x}");
    Envelope {
        message_id: message_id(&story_id, 1),
        story_id,
        revision: 1,
        event: ArticleEvent::Created,
        routing_key: routing_key.into(),
        timestamp: 1,
        body: format!("{{\"n\":{n}}}").into_bytes(),
    }
}

/// Two feeds' messages interleaved, 32 in flight at once: one feed's key is
/// bound to a queue, the other's is not. lapin pairs a `basic.return` with
/// whichever confirm it resolves next, so with several messages in flight on
/// one channel an unroutable message could be credited as delivered (and a
/// routed one reported returned).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returned_message_is_never_credited_to_another() {
    let capture = Capture::with_binding("returns", None).await;
    let bound_queue = capture.add_queue("bound", "article.bound").await;
    let sink = sink_for(&capture).await;
    let envelopes: Vec<Envelope> = (0..1600)
        .map(|n| {
            envelope(
                n,
                if n % 2 == 0 {
                    "article.bound"
                } else {
                    "article.unbound"
                },
            )
        })
        .collect();
    let results: Vec<(usize, Result<(), PublishError>)> =
        futures_util::stream::iter(envelopes.iter().enumerate().map(|(n, e)| {
            let sink = &sink;
            async move { (n, sink.publish(e).await) }
        }))
        .buffer_unordered(32)
        .collect()
        .await;
    let mut wrong = Vec::new();
    for (n, result) in &results {
        let bound = n % 2 == 0;
        match result {
            Ok(()) if bound => {}
            Err(PublishError::Returned { .. }) if !bound => {}
            other => wrong.push((*n, format!("{other:?}"))),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} messages misreported: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    let received = capture.drain_named(&bound_queue).await;
    assert_eq!(received.len(), 800);
    sink.close().await;
    capture.delete().await;
}

/// The same two feeds in ordered batches on one channel (as replay sends):
/// returns are matched to their messages by id, whatever confirm carried them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_batches_match_each_return_to_its_message() {
    let capture = Capture::with_binding("ordered", None).await;
    let bound_queue = capture.add_queue("bound", "article.bound").await;
    let sink = sink_for(&capture).await;
    let envelopes: Vec<Envelope> = (0..640)
        .map(|n| {
            envelope(
                n,
                if n % 3 == 0 {
                    "article.unbound"
                } else {
                    "article.bound"
                },
            )
        })
        .collect();
    let mut routed = Vec::new();
    for (batch, chunk) in envelopes.chunks(64).enumerate() {
        let results = sink.publish_ordered(chunk, &Default::default()).await;
        for (i, result) in results.iter().enumerate() {
            let n = batch * 64 + i;
            match result {
                Ok(()) if n % 3 != 0 => routed.push(n),
                Err(PublishError::Returned { .. }) if n % 3 == 0 => {}
                other => panic!("message {n} misreported: {other:?}"),
            }
        }
    }
    let received: Vec<usize> = capture
        .drain_named(&bound_queue)
        .await
        .iter()
        .map(|m| m.body["n"].as_u64().unwrap() as usize)
        .collect();
    assert_eq!(received, routed, "routed messages arrive once, in order");
    sink.close().await;
    capture.delete().await;
}
