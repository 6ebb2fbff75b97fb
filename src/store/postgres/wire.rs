//! How the PostgreSQL store talks to the server: one pooled connection per
//! call, statements prepared once per connection, and the statements of a
//! call sent together (pipelined), so that most calls cost one round trip.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use deadpool_postgres::Object;
use futures_util::FutureExt;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};

use crate::store::StoreError;

pub(super) type Param<'a> = &'a (dyn ToSql + Sync);

/// One statement of a pipeline.
pub(super) enum Step<'a> {
    /// Text sent with the simple protocol: `BEGIN …`, `COMMIT`, no parameters.
    Text(&'static str),
    Query(&'a Statement, Vec<Param<'a>>),
}

pub(super) const BEGIN: Step<'static> = Step::Text("BEGIN");
pub(super) const COMMIT: Step<'static> = Step::Text("COMMIT");

type StepFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + Send + 'a>>;

/// A connection borrowed from the pool for one call.
pub(super) struct Session<'s> {
    client: Object,
    round_trips: &'s AtomicU64,
    /// A `BEGIN` went out and its `COMMIT` has not come back: dropping the
    /// session then sends `ROLLBACK` first, so the pool never hands out a
    /// connection inside a transaction (a call cancelled half-way, an
    /// error between the two halves of `record_items`).
    in_transaction: bool,
}

impl<'s> Session<'s> {
    pub(super) fn new(client: Object, round_trips: &'s AtomicU64) -> Session<'s> {
        Session {
            client,
            round_trips,
            in_transaction: false,
        }
    }

    /// Prepares `sql` on this connection, once per connection: the
    /// statements missing from its cache go out together (one round trip).
    pub(super) async fn prepare<const N: usize>(
        &self,
        sql: [&str; N],
    ) -> Result<[Statement; N], StoreError> {
        let cached = self.client.statement_cache.size();
        let statements =
            futures_util::future::try_join_all(sql.iter().map(|s| self.client.prepare_cached(s)))
                .await?;
        if self.client.statement_cache.size() != cached {
            self.round_trips.fetch_add(1, Ordering::Relaxed);
        }
        Ok(statements
            .try_into()
            .unwrap_or_else(|_| unreachable!("one statement per query")))
    }

    /// Sends every step at once, in order, and waits for all the answers:
    /// one round trip. Returns each step's rows (none for text steps), or
    /// the first error in step order: inside a transaction the later steps
    /// then fail too, and its `COMMIT` ends it as a rollback.
    pub(super) async fn exchange(
        &mut self,
        steps: Vec<Step<'_>>,
    ) -> Result<Vec<Vec<Row>>, StoreError> {
        // Whether a transaction is open once every step has run.
        let mut open_after = self.in_transaction;
        for step in &steps {
            match step {
                Step::Text(t) if t.starts_with("BEGIN") => {
                    open_after = true;
                    self.in_transaction = true;
                }
                Step::Text("COMMIT" | "ROLLBACK") => open_after = false,
                _ => {}
            }
        }
        let client: &tokio_postgres::Client = &self.client;
        let futures: Vec<StepFuture<'_>> = steps
            .into_iter()
            .map(|step| -> StepFuture<'_> {
                match step {
                    Step::Text(sql) => {
                        Box::pin(
                            async move { client.batch_execute(sql).await.map(|()| Vec::new()) },
                        )
                    }
                    Step::Query(statement, params) => {
                        Box::pin(async move { client.query(statement, &params).await })
                    }
                }
            })
            .collect();
        let results = in_order(futures).await;
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        // A COMMIT that came back ended the transaction: committed, or
        // rolled back by the server after an error.
        self.in_transaction = open_after;
        results
            .into_iter()
            .map(|r| r.map_err(StoreError::from))
            .collect()
    }

    /// One statement, one round trip.
    pub(super) async fn query(
        &mut self,
        statement: &Statement,
        params: Vec<Param<'_>>,
    ) -> Result<Vec<Row>, StoreError> {
        let mut rows = self.exchange(vec![Step::Query(statement, params)]).await?;
        Ok(rows.pop().unwrap_or_default())
    }

    /// Ends a transaction that wrote nothing without waiting for the
    /// server's answer: the `ROLLBACK` goes out now, ahead of whatever the
    /// connection's next user sends.
    pub(super) fn end_read_only(&mut self) {
        self.rollback_unanswered();
    }

    fn rollback_unanswered(&mut self) {
        if std::mem::take(&mut self.in_transaction) {
            // The request is sent on the first poll; its answer is dropped.
            let _ = self.client.batch_execute("ROLLBACK").now_or_never();
        }
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        self.rollback_unanswered();
    }
}

/// Polls every future in index order until all are done. tokio-postgres
/// sends a request when its future is first polled, so the requests go out
/// in this order (`BEGIN` first, `COMMIT` last) and in one write.
async fn in_order<'a, T>(mut futures: Vec<Pin<Box<dyn Future<Output = T> + Send + 'a>>>) -> Vec<T> {
    let mut outputs: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}

/// Tries before an error that a retry could cure is returned.
const TRIES: u32 = 12;

/// Whether `error` says the transaction was rolled back because of another
/// one (a serialization failure under REPEATABLE READ, a deadlock, a
/// unique key taken meanwhile): running it again reads the other's work.
pub(super) fn retryable(error: &StoreError) -> bool {
    let StoreError::Postgres(error) = error else {
        return false;
    };
    error.code().is_some_and(|code| {
        [
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::UNIQUE_VIOLATION,
        ]
        .contains(code)
    })
}

/// Runs `attempt` until it succeeds, fails for good, or has conflicted
/// [`TRIES`] times, with a short random pause between tries so that the
/// same two workers do not collide again.
pub(super) async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(error) if tries < TRIES && retryable(&error) => {
                let ceiling = 2u64 << tries.min(7);
                tokio::time::sleep(Duration::from_millis(fastrand::u64(1..=ceiling))).await;
                tries += 1;
            }
            result => return result,
        }
    }
}

pub(super) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A BIGINT column that holds a u32 (revisions, versions, counters).
pub(super) fn u32_at(row: &Row, column: &str) -> Result<u32, StoreError> {
    let value: i64 = row.try_get(column)?;
    u32::try_from(value).map_err(|_| StoreError::Invalid(format!("{column} = {value}")))
}

/// A text column that must hold a name `parse` knows: a value this release
/// does not know is an error, never a silent default.
pub(super) fn known<T>(
    row: &Row,
    column: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    let text: String = row.try_get(column)?;
    parse(&text).ok_or_else(|| StoreError::Invalid(format!("{column} `{text}`")))
}
