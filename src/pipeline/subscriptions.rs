//! Keeping WebSub subscriptions: asking a hub (subscribe, renew,
//! unsubscribe), and a periodic pass over the store's subscriptions that
//! renews leases before they end, gives up on hubs that never verified,
//! notices lapsed leases (their feeds are polled again at once), and
//! unsubscribes feeds that left the feed list.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use tracing::{info, warn};

use super::feeds::FeedBook;
use super::push::{Known, LATENCY_KEPT};
use super::{Context, lock};
use crate::ops::StateLabels;
use crate::push::Discovery;
use crate::push::hub::ask_hub;
use crate::push::subscription::{Mode, State, Subscription, renew_at_ms};
use crate::store::SubscriptionRecord;

/// A hub that has not verified a subscription by then is taken to have
/// dropped it; the hub is asked again after `push.retry_interval`.
const VERIFY_WITHIN: Duration = Duration::from_secs(600);

/// Renewal starts at least this long before a lease ends.
const RENEW_MARGIN: Duration = Duration::from_secs(3600);

/// The longest the pass sleeps: feeds leave the list, other workers change
/// subscriptions.
const PASS_EVERY: Duration = Duration::from_secs(60);

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn known(record: &SubscriptionRecord) -> Known {
    Known {
        topic: record.subscription.topic.clone(),
        hub: record.subscription.hub.clone(),
        state: record.subscription.state.clone(),
        asked_ms: record.asked_ms,
    }
}

/// Asks the first hub a fetched feed names for a subscription to its topic.
/// The record is stored before the hub is asked: its verification may come
/// back before the hub's answer does.
pub(super) async fn subscribe(ctx: &Context, feed_id: &str, found: Discovery) {
    let Some(hub) = found.hubs.into_iter().next() else {
        return;
    };
    let record = SubscriptionRecord {
        feed_id: feed_id.to_string(),
        subscription: Subscription::new(hub, found.topic),
        asked_ms: now_ms(),
    };
    ask(ctx, record, Mode::Subscribe).await;
}

/// Saves `record` as asked now and asks its hub for `mode`; a hub that
/// cannot be asked leaves the subscription denied (a subscribe) or gone
/// (an unsubscribe: its lease will run out).
async fn ask(ctx: &Context, mut record: SubscriptionRecord, mode: Mode) {
    let Some(push) = &ctx.push else { return };
    record.asked_ms = now_ms();
    if mode == Mode::Unsubscribe {
        record.subscription.state = State::Pending(Mode::Unsubscribe);
    }
    if let Err(error) = ctx.store.save_subscription(&record).await {
        warn!(%error, feed_id = %record.feed_id, "cannot keep a subscription");
        return;
    }
    push.note(&record.feed_id, Some(known(&record)));
    let asked = ask_hub(
        &ctx.fetcher,
        &record.subscription,
        mode,
        &push.base,
        push.config.lease,
    )
    .await;
    let sub = &record.subscription;
    match (asked, mode) {
        (Ok(()), _) => {
            info!(feed_id = %record.feed_id, hub = %sub.hub, topic = %sub.topic, mode = mode.as_str(), "asked the hub");
        }
        (Err(error), Mode::Subscribe) => {
            let what = if matches!(sub.state, State::Active { .. }) {
                "cannot renew; pushed until the lease runs out"
            } else {
                "hub refused or unreachable; the feed is polled"
            };
            warn!(%error, feed_id = %record.feed_id, hub = %sub.hub, "{what}");
            let failed = State::Denied {
                reason: Some(format!("hub: {error}")),
            };
            // A renewal that failed keeps its lease until it runs out.
            if !matches!(sub.state, State::Active { .. }) {
                record.subscription.state = failed;
                if let Err(error) = ctx.store.save_subscription(&record).await {
                    warn!(%error, "cannot keep a subscription");
                }
                push.note(&record.feed_id, Some(known(&record)));
            }
        }
        (Err(error), Mode::Unsubscribe) => {
            warn!(%error, hub = %sub.hub, "cannot unsubscribe; the lease will run out");
            if let Err(error) = ctx.store.delete_subscription(&sub.id).await {
                warn!(%error, "cannot drop a subscription");
            }
        }
    }
    push.changed.notify_one();
}

/// What one pass does with one subscription.
#[derive(Debug, PartialEq)]
enum Step {
    Keep,
    Renew,
    Unsubscribe,
    Drop,
    /// The hub never verified, or the lease ran out: denied with this
    /// reason, the feed due now when it was pushed.
    Fail(&'static str, bool),
}

/// Decides one subscription's step at `now`, and when to look again.
fn step(
    record: &SubscriptionRecord,
    listed: bool,
    retry: Duration,
    now: i64,
) -> (Step, Option<i64>) {
    let asked = record.asked_ms;
    let since_asked = now - asked;
    match (&record.subscription.state, listed) {
        (State::Ended, _) => (Step::Drop, None),
        (State::Pending(Mode::Unsubscribe), _) => {
            if since_asked >= VERIFY_WITHIN.as_millis() as i64 {
                (Step::Drop, None)
            } else {
                (Step::Keep, Some(asked + VERIFY_WITHIN.as_millis() as i64))
            }
        }
        (State::Active { lease_until_ms }, false) if *lease_until_ms > now => {
            (Step::Unsubscribe, None)
        }
        (_, false) => (Step::Drop, None),
        (State::Active { lease_until_ms }, true) => {
            let until = *lease_until_ms;
            if until <= now {
                return (Step::Fail("lease ran out", true), None);
            }
            let granted = Duration::from_millis((until - asked).max(0) as u64);
            let renew_at = renew_at_ms(until, granted, RENEW_MARGIN.min(granted / 2), now);
            // Renewals are spaced: by the retry interval, and closer as the
            // lease runs out, so a hub that is down for a while is asked
            // again before the end.
            let spacing = (retry.as_millis() as i64).min((until - now) / 2).max(500);
            let next_ask = renew_at.max(asked + spacing);
            if now >= next_ask {
                (Step::Renew, Some(until))
            } else {
                (Step::Keep, Some(next_ask.min(until)))
            }
        }
        (State::Pending(Mode::Subscribe), true) => {
            if since_asked >= VERIFY_WITHIN.as_millis() as i64 {
                (Step::Fail("the hub did not verify", false), None)
            } else {
                (Step::Keep, Some(asked + VERIFY_WITHIN.as_millis() as i64))
            }
        }
        (State::Denied { .. }, true) => (Step::Keep, None),
    }
}

/// One pass over the store's subscriptions; returns how long to wait for
/// the next.
pub(super) async fn maintain(ctx: &Context, feeds: &FeedBook) -> Duration {
    let Some(push) = &ctx.push else {
        return PASS_EVERY;
    };
    let records = match ctx.store.subscriptions().await {
        Ok(records) => records,
        Err(error) => {
            warn!(%error, "cannot read subscriptions");
            return PASS_EVERY;
        }
    };
    let mut listed: HashSet<String> = feeds.ids().into_iter().collect();
    // This worker's copy of the feed list may predate a feed another worker
    // (or `feeds add`) just added and subscribed: it is read again, once a
    // pass, before a subscription is ended for a feed missing from it.
    let mut reloaded = false;
    let now = now_ms();
    let mut next = now + PASS_EVERY.as_millis() as i64;
    let mut fresh = HashMap::with_capacity(records.len());
    let mut by_state: HashMap<&'static str, i64> = HashMap::new();
    for mut record in records {
        let retry = push.config.retry_interval;
        let (mut step, mut again) = step(&record, listed.contains(&record.feed_id), retry, now);
        if matches!(step, Step::Unsubscribe | Step::Drop) && !reloaded {
            feeds.reload(ctx).await;
            listed = feeds.ids().into_iter().collect();
            reloaded = true;
            (step, again) = self::step(&record, listed.contains(&record.feed_id), retry, now);
        }
        if let Some(again) = again {
            next = next.min(again);
        }
        match step {
            Step::Keep => {}
            Step::Renew => {
                // Another worker of the fleet may have renewed it since
                // this pass read the list: then the hub is not asked twice.
                let current = ctx.store.subscription(&record.subscription.id).await;
                if let Ok(Some(current)) = current
                    && current.asked_ms > record.asked_ms
                {
                    record = current;
                } else {
                    ask(ctx, record.clone(), Mode::Subscribe).await;
                }
            }
            Step::Unsubscribe => {
                ask(ctx, record.clone(), Mode::Unsubscribe).await;
                record.subscription.state = State::Pending(Mode::Unsubscribe);
            }
            Step::Drop => {
                if let Err(error) = ctx.store.delete_subscription(&record.subscription.id).await {
                    warn!(%error, "cannot drop a subscription");
                }
                continue;
            }
            Step::Fail(reason, was_pushed) => {
                info!(feed_id = %record.feed_id, hub = %record.subscription.hub, reason, "push stopped; the feed is polled");
                let state = State::Denied {
                    reason: Some(reason.into()),
                };
                if let Err(error) = ctx
                    .store
                    .set_subscription_state(&record.subscription.id, &state)
                    .await
                {
                    warn!(%error, "cannot keep a subscription's state");
                }
                record.subscription.state = state;
                if was_pushed
                    && let Err(error) = ctx.store.expedite_feed(&record.feed_id, now).await
                {
                    warn!(%error, feed_id = %record.feed_id, "cannot make the feed due");
                }
            }
        }
        *by_state
            .entry(state_label(&record.subscription.state))
            .or_default() += 1;
        fresh.insert(record.feed_id.clone(), known(&record));
    }
    // Renewals and verifications that came in during the pass win over
    // what the pass read before them.
    {
        let mut map = lock(&push.known);
        for (feed_id, known) in map.iter() {
            if fresh
                .get(feed_id)
                .is_some_and(|k| k.asked_ms < known.asked_ms)
            {
                fresh.insert(feed_id.clone(), known.clone());
            }
        }
        *map = fresh;
    }
    lock(&push.started).retain(|_, at| at.elapsed() < LATENCY_KEPT);
    for state in ["subscribing", "active", "denied", "unsubscribing"] {
        ctx.metrics
            .push_subscriptions
            .get_or_create(&StateLabels { state })
            .set(by_state.get(state).copied().unwrap_or(0));
    }
    Duration::from_millis((next - now).clamp(100, PASS_EVERY.as_millis() as i64) as u64)
}

fn state_label(state: &State) -> &'static str {
    match state {
        State::Pending(Mode::Subscribe) => "subscribing",
        State::Pending(Mode::Unsubscribe) => "unsubscribing",
        State::Active { .. } => "active",
        State::Denied { .. } | State::Ended => "denied",
    }
}

/// Runs [`maintain`] until the worker stops; subscribing starts with it.
pub(super) async fn keep(ctx: &Context, feeds: &FeedBook) {
    let Some(push) = &ctx.push else { return };
    push.serving.store(true, Ordering::Relaxed);
    loop {
        let wait = maintain(ctx, feeds).await;
        tokio::select! {
            _ = ctx.shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
            _ = push.changed.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    fn record(state: State, asked_ms: i64) -> SubscriptionRecord {
        SubscriptionRecord {
            feed_id: "f".into(),
            subscription: Subscription {
                state,
                ..Subscription::new(
                    Url::parse("https://hub.example/").unwrap(),
                    Url::parse("https://news.example/feed.xml").unwrap(),
                )
            },
            asked_ms,
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);
    const DAY: i64 = 86_400_000;

    #[test]
    fn leases_are_renewed_before_they_end_and_lapse_after() {
        // A 10-day lease granted at 0: kept until a day before its end.
        let active = record(
            State::Active {
                lease_until_ms: 10 * DAY,
            },
            0,
        );
        let (step1, again) = step(&active, true, HOUR, DAY);
        assert_eq!(step1, Step::Keep);
        assert_eq!(again, Some(9 * DAY));
        assert_eq!(step(&active, true, HOUR, 9 * DAY).0, Step::Renew);
        // Asked again (the hub did not answer yet): the lease now looks a
        // day long, so the next ask comes a tenth of it before the end.
        let asked = record(
            State::Active {
                lease_until_ms: 10 * DAY,
            },
            9 * DAY,
        );
        assert_eq!(step(&asked, true, HOUR, 9 * DAY + 3_600_000).0, Step::Keep);
        assert_eq!(step(&asked, true, HOUR, 10 * DAY - DAY / 10).0, Step::Renew);
        // Run out: polling takes over at once.
        assert_eq!(
            step(&active, true, HOUR, 10 * DAY).0,
            Step::Fail("lease ran out", true)
        );
    }

    #[test]
    fn a_short_lease_is_renewed_at_half_its_length_at_the_latest() {
        let active = record(
            State::Active {
                lease_until_ms: 12_000,
            },
            2_000,
        );
        assert_eq!(step(&active, true, HOUR, 6_000).0, Step::Keep);
        assert_eq!(step(&active, true, HOUR, 7_000).0, Step::Renew);
    }

    #[test]
    fn unverified_subscriptions_fail_and_unlisted_feeds_unsubscribe() {
        let pending = record(State::Pending(Mode::Subscribe), 0);
        assert_eq!(step(&pending, true, HOUR, 1_000).0, Step::Keep);
        assert_eq!(
            step(&pending, true, HOUR, VERIFY_WITHIN.as_millis() as i64).0,
            Step::Fail("the hub did not verify", false)
        );
        assert_eq!(step(&pending, false, HOUR, 1_000).0, Step::Drop);
        let active = record(
            State::Active {
                lease_until_ms: DAY,
            },
            0,
        );
        assert_eq!(step(&active, false, HOUR, 1_000).0, Step::Unsubscribe);
        let leaving = record(State::Pending(Mode::Unsubscribe), 0);
        assert_eq!(step(&leaving, false, HOUR, 1_000).0, Step::Keep);
        assert_eq!(
            step(&leaving, false, HOUR, VERIFY_WITHIN.as_millis() as i64).0,
            Step::Drop
        );
        assert_eq!(step(&record(State::Ended, 0), true, HOUR, 0).0, Step::Drop);
        let denied = record(State::Denied { reason: None }, 0);
        assert_eq!(step(&denied, true, HOUR, DAY).0, Step::Keep);
    }
}
