//! When feeds are polled: once each (`run --once`), or each when it is due
//! (`run`), at most `poll.concurrency` at a time. Feeds and unfinished
//! stories are claimed from the store, so several workers on one shared
//! store never poll the same feed or work on the same story at once.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::{Instrument, info, info_span, warn};

use super::feeds::FeedBook;
use super::poll::{poll_feed, record};
use super::push::Notice;
use super::queue::{Intake, Workers};
use super::subscriptions;
use super::{Context, lock, prune_archive};
use crate::schedule::FeedState;
use crate::store::{StoryTask, StoryWork};

/// How often, at most, the long-running worker claims unfinished stories
/// that no worker holds (a publish that gave up, a deferred update, a dead
/// worker's stories) and applies the archive's retention; at least twice a
/// lease, so a dead worker's stories are taken over within about a lease.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// How often the feed list is read again from the store.
const RELOAD_EVERY: Duration = Duration::from_secs(60);

/// The longest the scheduler sleeps before looking for due feeds again
/// (another worker may have added one, or a claim lapsed).
const MAX_IDLE: Duration = Duration::from_secs(1);

/// The shortest: feeds that fall due within one tick are claimed and
/// polled together, so a worker at an ordinary pace (a few polls a second)
/// pays one claim, one look at the schedule and one wakeup per tick, not
/// per poll; a worker that keeps up polls a feed at most this long after
/// it falls due.
const TICK: Duration = Duration::from_millis(500);

/// Polls one claimed feed (held since its claim) and queues its stories.
async fn poll_and_enqueue(ctx: &Context, feeds: &FeedBook, intake: &Intake, state: FeedState) {
    poll_for(ctx, feeds, intake, state, None).await;
}

/// [`poll_and_enqueue`], for a notification that arrived at `pushed`.
async fn poll_for(
    ctx: &Context,
    feeds: &FeedBook,
    intake: &Intake,
    state: FeedState,
    pushed: Option<Instant>,
) {
    let feed_id = state.feed_id.clone();
    let Some(feed) = feeds.spec(ctx, &feed_id).await else {
        warn!(feed_id = %feed_id, "claimed a feed that is not in the feed list");
        ctx.held.drop_feed(&feed_id);
        return;
    };
    let span = info_span!("poll", feed_id = %feed.id, url = %feed.url);
    // Boxed: the poll's future is several kilobytes (the HTTP client's
    // among them), and a task spawned per poll would copy it whole.
    let tasks = Box::pin(poll_feed(ctx, feeds, &feed, state).instrument(span)).await;
    ctx.held.drop_feed(&feed_id);
    enqueue(ctx, intake, tasks, pushed).await;
}

async fn enqueue(ctx: &Context, intake: &Intake, tasks: Vec<StoryTask>, pushed: Option<Instant>) {
    if let (Some(push), Some(received)) = (&ctx.push, pushed) {
        push.track(tasks.iter().map(|t| t.story_id.clone()), received);
    }
    intake
        .enqueue_all(
            tasks
                .into_iter()
                .map(|task| StoryWork::Process(Box::new(task)))
                .collect(),
        )
        .await;
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Polls every feed once, processes every new story and waits for every
/// confirm (or the abort).
pub(super) async fn run_once(ctx: &Arc<Context>, feeds: &Arc<FeedBook>) {
    let workers = Workers::start(ctx, feeds);
    workers.intake.resume(true).await;
    let mut polls = JoinSet::new();
    let slots = Arc::new(Semaphore::new(ctx.config.poll.concurrency));
    for feed_id in feeds.ids() {
        if ctx.shutdown.is_cancelled() {
            break;
        }
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let (ctx, feeds, intake) = (Arc::clone(ctx), Arc::clone(feeds), workers.intake.clone());
        // The claim is made in the poll's task, so claims do not wait on
        // each other behind the store's other calls.
        polls.spawn(async move {
            let _slot = slot;
            match ctx
                .store
                .claim_feed(&ctx.claimant, &feed_id, now_ms())
                .await
            {
                Ok(Some(state)) => {
                    ctx.held.take_feed(&state.feed_id);
                    poll_and_enqueue(&ctx, &feeds, &intake, state).await
                }
                // Another worker is polling it right now.
                Ok(None) => {}
                Err(error) => warn!(%error, feed_id = %feed_id, "cannot claim the feed"),
            }
        });
        // Finished polls are reaped as we go, so 100,000 feeds do not leave
        // 100,000 finished tasks waiting.
        while polls.try_join_next().is_some() {}
    }
    // Polls in flight may wait on slow servers: the grace period bounds them.
    loop {
        tokio::select! {
            next = polls.join_next() => if next.is_none() { break },
            _ = ctx.abort.cancelled() => {
                polls.abort_all();
                break;
            }
        }
    }
    workers.finish().await;
}

/// The long-running worker: polls feeds when due until `shutdown`.
pub(super) async fn run_forever(ctx: &Arc<Context>, feeds: &Arc<FeedBook>) {
    let workers = Workers::start(ctx, feeds);
    workers.intake.resume(true).await;
    let concurrency = ctx.config.poll.concurrency;
    let slots = Arc::new(Semaphore::new(concurrency));
    let freed = Arc::new(Notify::new());
    // Due feeds claimed ahead of free slots, so a finished poll is followed
    // by the next without a store round trip; topped up when half empty.
    let mut ready: VecDeque<FeedState> = VecDeque::with_capacity(concurrency);
    let mut sweep = tokio::time::interval(SWEEP_EVERY.min(ctx.claimant.lease / 2));
    sweep.tick().await;
    let mut reload = tokio::time::interval(RELOAD_EVERY);
    reload.tick().await;
    let mut inbox = ctx.push.as_ref().and_then(|push| lock(&push.inbox).take());
    let keeper = {
        let (ctx, feeds) = (Arc::clone(ctx), Arc::clone(feeds));
        tokio::spawn(async move { subscriptions::keep(&ctx, &feeds).await })
    };
    loop {
        // Nothing more due than what the last claim found: wait for it.
        let mut drained = false;
        if ready.len() <= concurrency / 2 {
            let want = concurrency - ready.len();
            match ctx
                .store
                .claim_due_feeds(&ctx.claimant, now_ms(), want)
                .await
            {
                Ok(claimed) => {
                    drained = claimed.len() < want;
                    for state in claimed {
                        ctx.held.take_feed(&state.feed_id);
                        ready.push_back(state);
                    }
                }
                Err(error) => {
                    warn!(%error, "cannot claim due feeds");
                    drained = true;
                }
            }
        }
        while !ready.is_empty() {
            let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                break;
            };
            let state = ready.pop_front().expect("not empty");
            spawn_poll(ctx, feeds, &workers.intake, &freed, slot, state);
        }
        let idle = if ready.is_empty() && drained {
            let now = now_ms();
            let next = ctx.store.next_due_ms(now).await.ok().flatten();
            Some(next.map_or(MAX_IDLE, |at| {
                Duration::from_millis(
                    (at - now).clamp(TICK.as_millis() as i64, MAX_IDLE.as_millis() as i64) as u64,
                )
            }))
        } else {
            None
        };
        tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            // A poll finished: start the next claimed one (or claim more).
            _ = freed.notified(), if !ready.is_empty() || !drained => {}
            _ = tokio::time::sleep(idle.unwrap_or_default()), if idle.is_some() => {}
            _ = sweep.tick() => {
                workers.intake.resume(false).await;
                prune_archive(ctx).await;
            }
            _ = reload.tick() => feeds.reload(ctx).await,
            Some(notice) = next_notice(&mut inbox) => {
                let (ctx, feeds, intake) = (Arc::clone(ctx), Arc::clone(feeds), workers.intake.clone());
                tokio::spawn(async move { take_notice(&ctx, &feeds, &intake, notice).await });
            }
        }
    }
    keeper.abort();
    // Claimed feeds not polled are let go when the worker signs off.
    info!("shutting down: polling stopped, finishing in-flight stories");
    workers.finish().await;
}

fn spawn_poll(
    ctx: &Arc<Context>,
    feeds: &Arc<FeedBook>,
    intake: &Intake,
    freed: &Arc<Notify>,
    slot: OwnedSemaphorePermit,
    state: FeedState,
) {
    let (ctx, feeds, intake, freed) = (
        Arc::clone(ctx),
        Arc::clone(feeds),
        intake.clone(),
        Arc::clone(freed),
    );
    tokio::spawn(async move {
        poll_and_enqueue(&ctx, &feeds, &intake, state).await;
        drop(slot);
        freed.notify_one();
    });
}

async fn next_notice(inbox: &mut Option<tokio::sync::mpsc::Receiver<Notice>>) -> Option<Notice> {
    match inbox {
        Some(inbox) => inbox.recv().await,
        None => std::future::pending().await,
    }
}

/// A hub's notification: its content recorded as a poll's would be, or,
/// when it brought none (or none that parses), the feed polled now.
async fn take_notice(ctx: &Context, feeds: &FeedBook, intake: &Intake, notice: Notice) {
    let Notice {
        feed_id,
        content,
        received,
    } = notice;
    let Some(feed) = feeds.spec(ctx, &feed_id).await else {
        return;
    };
    let base = url::Url::parse(&feed.url).ok();
    let parsed = match content {
        Some((body, content_type)) => ctx
            .on_cpu(move || crate::feed::parse_feed(&body, content_type.as_deref(), base.as_ref()))
            .await
            .ok()
            .and_then(Result::ok)
            .filter(|parsed| !parsed.items.is_empty()),
        None => None,
    };
    if let Some(parsed) = parsed {
        match record(ctx, &feed_id, &parsed.items).await {
            Ok(tasks) => return enqueue(ctx, intake, tasks, Some(received)).await,
            Err(error) => {
                warn!(%error, feed_id = %feed_id, "cannot record a pushed feed; polling it")
            }
        }
    }
    match ctx
        .store
        .claim_feed(&ctx.claimant, &feed_id, now_ms())
        .await
    {
        Ok(Some(state)) => {
            ctx.held.take_feed(&state.feed_id);
            poll_for(ctx, feeds, intake, state, Some(received)).await;
        }
        // Being polled right now.
        Ok(None) => {}
        Err(error) => warn!(%error, feed_id = %feed_id, "cannot claim a pushed feed"),
    }
}
