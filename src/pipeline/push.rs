//! WebSub in the worker: what a poll learns about a feed's hub, what the
//! callback route answers, and how a notification enters the pass from
//! poll to publish. Subscriptions live in the store (any worker of a fleet
//! answers any hub); this worker keeps a copy of their states, refreshed by
//! `subscriptions::maintain`, so a poll never waits on the store for them.
//!
//! A feed is pushed while its subscription is active and its lease runs:
//! it is then polled only every `push.safety_poll_interval`. Anything else
//! (never verified, refused, hub gone, lease run out) leaves it polled as
//! usual, and a lapse makes it due at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use hyper::body::Bytes;
use tokio::sync::{Notify, mpsc};
use tracing::{debug, warn};
use url::Url;

use super::{Context, lock};
use crate::config::PushConfig;
use crate::ops::{CallbackReply, CallbackRequest, OutcomeLabels};
use crate::push::callback::{on_notification, on_verification};
use crate::push::subscription::{State, id_in_path};
use crate::push::{Discovery, discover};

/// Notifications accepted and not yet taken by the scheduler; beyond it a
/// hub is answered 503 and sends again later.
const INBOX: usize = 1024;

/// How long a story's push time is kept waiting for its confirm.
pub(super) const LATENCY_KEPT: Duration = Duration::from_secs(600);

/// A notification taken: the feed it is for and, when the hub sent the
/// feed's content, that content.
pub(super) struct Notice {
    pub feed_id: String,
    pub content: Option<(Bytes, Option<String>)>,
    pub received: Instant,
}

/// What this worker knows of one feed's subscription.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Known {
    pub topic: Url,
    pub hub: Url,
    pub state: State,
    pub asked_ms: i64,
}

/// The push side of one worker.
pub(crate) struct Push {
    pub(super) config: PushConfig,
    pub(super) base: Url,
    /// Set by the long-running worker: only it subscribes (a one-off run
    /// would leave hubs calling a callback nobody serves).
    pub(super) serving: AtomicBool,
    pub(super) known: Mutex<HashMap<String, Known>>,
    /// Stories brought by a notification, with its arrival, until confirmed.
    pub(super) started: Mutex<HashMap<String, Instant>>,
    notices: mpsc::Sender<Notice>,
    pub(super) inbox: Mutex<Option<mpsc::Receiver<Notice>>>,
    /// Wakes `maintain` early: a subscription changed state.
    pub(super) changed: Notify,
}

impl Push {
    /// The push side, when `[push]` is on.
    pub(crate) fn new(config: &PushConfig) -> Option<Push> {
        let base = config.active_base()?.clone();
        let (notices, inbox) = mpsc::channel(INBOX);
        Some(Push {
            config: config.clone(),
            base,
            serving: AtomicBool::new(false),
            known: Mutex::new(HashMap::new()),
            started: Mutex::new(HashMap::new()),
            notices,
            inbox: Mutex::new(Some(inbox)),
            changed: Notify::new(),
        })
    }

    /// Whether `feed_id` has a verified subscription whose lease runs.
    pub(super) fn is_live(&self, feed_id: &str, now_ms: i64) -> bool {
        lock(&self.known).get(feed_id).is_some_and(
            |k| matches!(k.state, State::Active { lease_until_ms } if lease_until_ms > now_ms),
        )
    }

    /// The next poll of a pushed feed: no sooner than the safety interval.
    pub(super) fn space_poll(&self, feed_id: &str, next_due_ms: i64, now_ms: i64) -> i64 {
        if self.is_live(feed_id, now_ms) {
            next_due_ms.max(now_ms + self.config.safety_poll_interval.as_millis() as i64)
        } else {
            next_due_ms
        }
    }

    /// Whether a fetched feed that names `found` needs a subscription now:
    /// none yet, another topic or hub, or a failed one whose retry is due.
    pub(super) fn wants(&self, feed_id: &str, found: &Discovery, now_ms: i64) -> bool {
        if !self.serving.load(Ordering::Relaxed) {
            return false;
        }
        let Some(known) = lock(&self.known).get(feed_id).cloned() else {
            return true;
        };
        if known.topic != found.topic || !found.hubs.contains(&known.hub) {
            return true;
        }
        let retry_due = now_ms - known.asked_ms >= self.config.retry_interval.as_millis() as i64;
        match known.state {
            State::Denied { .. } | State::Ended => retry_due,
            State::Pending(_) | State::Active { .. } => false,
        }
    }

    pub(super) fn note(&self, feed_id: &str, known: Option<Known>) {
        let mut map = lock(&self.known);
        match known {
            Some(known) => map.insert(feed_id.to_string(), known),
            None => map.remove(feed_id),
        };
    }

    /// A story brought by a notification was confirmed.
    pub(super) fn published(&self, ctx: &Context, story_id: &str) {
        if let Some(received) = lock(&self.started).remove(story_id) {
            ctx.metrics
                .push_to_publish
                .observe(received.elapsed().as_secs_f64());
        }
    }

    /// Remembers when the stories of a notification arrived.
    pub(super) fn track(&self, story_ids: impl Iterator<Item = String>, received: Instant) {
        let mut started = lock(&self.started);
        // Stories that never got confirmed are not waited for forever.
        if started.len() > 10_000 {
            started.retain(|_, at| at.elapsed() < LATENCY_KEPT);
        }
        started.extend(story_ids.map(|id| (id, received)));
    }
}

/// The hubs and topic a fetched feed names, when a subscription to them is
/// wanted now.
pub(super) fn wanted(
    ctx: &Context,
    feed_id: &str,
    link_headers: &[String],
    links: &[(String, String)],
    base: &Url,
) -> Option<Discovery> {
    let push = ctx.push.as_ref()?;
    let headers: Vec<&str> = link_headers.iter().map(String::as_str).collect();
    let found = discover(&headers, links, base)?;
    push.wants(feed_id, &found, Utc::now().timestamp_millis())
        .then_some(found)
}

fn reply(status: u16, body: &str) -> CallbackReply {
    CallbackReply {
        status,
        body: body.to_string(),
    }
}

/// Answers a hub's request on the callback route.
pub(super) async fn on_callback(ctx: &Context, request: CallbackRequest) -> CallbackReply {
    let Some(push) = &ctx.push else {
        return reply(404, "push is off");
    };
    let Some(id) = id_in_path(push.base.path(), &request.path) else {
        return reply(404, "no such subscription");
    };
    let record = match ctx.store.subscription(id).await {
        Ok(record) => record,
        Err(error) => {
            warn!(%error, "cannot read a subscription for a hub's call");
            return reply(503, "try again later");
        }
    };
    let now = Utc::now().timestamp_millis();
    let count = |outcome: &'static str| {
        ctx.metrics
            .push_notifications
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    };
    match request.method {
        http::Method::GET => {
            let sub = record.as_ref().map(|r| &r.subscription);
            let was_live = sub.is_some_and(|s| s.is_live(now));
            let (answer, state) = on_verification(sub, &request.query, now);
            if let (Some(record), Some(state)) = (record, state) {
                let saved = if state == State::Ended {
                    ctx.store.delete_subscription(id).await.map(|()| true)
                } else {
                    ctx.store.set_subscription_state(id, &state).await
                };
                if let Err(error) = saved {
                    warn!(%error, "cannot keep a subscription's new state");
                    return reply(503, "try again later");
                }
                debug!(feed_id = %record.feed_id, ?state, "hub verified a subscription");
                if was_live && !matches!(state, State::Active { .. }) {
                    // Push stopped: polling takes over now, not in hours.
                    if let Err(error) = ctx.store.expedite_feed(&record.feed_id, now).await {
                        warn!(%error, "cannot make the feed due");
                    }
                }
                let sub = record.subscription;
                push.note(
                    &record.feed_id,
                    (state != State::Ended).then_some(Known {
                        topic: sub.topic,
                        hub: sub.hub,
                        state,
                        asked_ms: record.asked_ms,
                    }),
                );
                push.changed.notify_one();
            }
            CallbackReply {
                status: answer.status,
                body: answer.body,
            }
        }
        http::Method::POST => {
            let header = |name: &str| {
                request
                    .headers
                    .get_all(name)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect::<Vec<_>>()
            };
            let links = header("link");
            let signature = header("x-hub-signature").first().copied();
            let sub = record.as_ref().map(|r| &r.subscription);
            let (answer, taken) = on_notification(sub, &links, signature, &request.body, now);
            let (Ok(()), Some(record)) = (taken, record) else {
                if let Err(rejection) = taken {
                    count(rejection.as_str());
                    warn!(path = %request.path, reason = rejection.as_str(), "hub notification rejected");
                }
                return CallbackReply {
                    status: answer.status,
                    body: answer.body,
                };
            };
            let content_type = header("content-type").first().map(|s| s.to_string());
            let notice = Notice {
                feed_id: record.feed_id,
                content: (!request.body.is_empty()).then_some((request.body, content_type)),
                received: Instant::now(),
            };
            match push.notices.try_send(notice) {
                Ok(()) => {
                    count("accepted");
                    CallbackReply {
                        status: answer.status,
                        body: answer.body,
                    }
                }
                Err(_) => {
                    count("busy");
                    reply(503, "busy; send again later")
                }
            }
        }
        _ => reply(405, "GET or POST"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push() -> Push {
        let config: PushConfig = toml::from_str(
            "enabled = true\ncallback_base = \"https://fw.example/websub\"\nsafety_poll_interval = \"6h\"",
        )
        .unwrap();
        Push::new(&config).unwrap()
    }

    fn known(state: State, asked_ms: i64) -> Known {
        Known {
            topic: Url::parse("https://news.example/feed.xml").unwrap(),
            hub: Url::parse("https://hub.example/").unwrap(),
            state,
            asked_ms,
        }
    }

    const SIX_HOURS: i64 = 6 * 3_600_000;

    #[test]
    fn a_pushed_feed_is_polled_at_the_safety_interval_until_its_lease_ends() {
        let push = push();
        // Not pushed: the poll's own plan stands.
        assert_eq!(push.space_poll("f", 5_000, 1_000), 5_000);
        push.note(
            "f",
            Some(known(
                State::Active {
                    lease_until_ms: 100_000,
                },
                0,
            )),
        );
        assert!(push.is_live("f", 1_000));
        assert_eq!(push.space_poll("f", 5_000, 1_000), 1_000 + SIX_HOURS);
        // A plan later than the safety interval stands too.
        assert_eq!(push.space_poll("f", 2 * SIX_HOURS, 1_000), 2 * SIX_HOURS);
        // Lease over: polled as usual.
        assert_eq!(push.space_poll("f", 5_000, 100_000), 5_000);
        push.note(
            "f",
            Some(known(
                State::Pending(crate::push::subscription::Mode::Subscribe),
                0,
            )),
        );
        assert_eq!(push.space_poll("f", 5_000, 1_000), 5_000);
    }

    #[test]
    fn only_a_serving_worker_subscribes_and_failed_hubs_wait_for_the_retry() {
        let push = push();
        let found = Discovery {
            hubs: vec![Url::parse("https://hub.example/").unwrap()],
            topic: Url::parse("https://news.example/feed.xml").unwrap(),
        };
        assert!(
            !push.wants("f", &found, 0),
            "a one-off run does not subscribe"
        );
        push.serving.store(true, Ordering::Relaxed);
        assert!(push.wants("f", &found, 0));
        push.note("f", Some(known(State::Active { lease_until_ms: 10 }, 0)));
        assert!(!push.wants("f", &found, 5));
        let moved = Discovery {
            topic: Url::parse("https://news.example/other.xml").unwrap(),
            ..found.clone()
        };
        assert!(push.wants("f", &moved, 5));
        push.note("f", Some(known(State::Denied { reason: None }, 1_000)));
        assert!(!push.wants("f", &found, 1_000 + 60_000));
        assert!(push.wants("f", &found, 1_000 + 3_600_000));
    }
}
