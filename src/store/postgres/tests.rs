//! The PostgreSQL store on the real server (`FEEDWIRE_TEST_POSTGRES_URL`,
//! else `postgres://postgres@127.0.0.1:5432/test`; `.ci/run` starts it):
//! the whole store contract, and what only this backend has. Each test
//! works in a schema of its own, dropped at its end, so tests run in
//! parallel and leave nothing behind. An unreachable server fails them.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

use tokio_postgres::NoTls;

use super::*;
use crate::store::tests::{item, pending, record, record_as, worker};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub(crate) fn server_url() -> String {
    std::env::var("FEEDWIRE_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

/// An admin connection to the test server, for setting up and checking.
pub(crate) async fn admin() -> tokio_postgres::Client {
    let url = server_url();
    let (client, connection) = tokio_postgres::connect(&url, NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL at {url} does not answer ({e}); `.ci/run` installs and starts it")
        });
    tokio::spawn(connection);
    client
}

/// A schema of its own on the test server, dropped (CASCADE) when this is.
pub(crate) struct Scratch {
    pub(crate) name: String,
}

static SCRATCHES: AtomicU32 = AtomicU32::new(0);

impl Scratch {
    pub(crate) async fn new() -> Scratch {
        let name = format!(
            "fw_test_{}_{}_{}",
            std::process::id(),
            SCRATCHES.fetch_add(1, Ordering::Relaxed),
            fastrand::u32(..)
        );
        admin()
            .await
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .unwrap();
        Scratch { name }
    }

    /// The store URL for this schema; its connections carry the schema's
    /// name as application name, so the drop can find them.
    pub(crate) fn url(&self, extra: &str) -> String {
        let base = server_url();
        let join = if base.contains('?') { '&' } else { '?' };
        format!(
            "{base}{join}options=-c%20search_path%3D{0}&application_name={0}{extra}",
            self.name
        )
    }

    pub(crate) async fn store(&self) -> PostgresStore {
        PostgresStore::connect(&self.url(""), 4).await.unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Its own thread and runtime: this may run while a test's runtime
        // unwinds. Connections still open (a failed test's) are ended
        // first, so their locks cannot hold the drop up.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let admin = admin().await;
                admin
                    .execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                         WHERE application_name = $1 AND pid <> pg_backend_pid()",
                        &[&name],
                    )
                    .await?;
                admin
                    .batch_execute(&format!(
                        "SET lock_timeout = '30s'; DROP SCHEMA {name} CASCADE"
                    ))
                    .await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) && !std::thread::panicking() {
            panic!("cannot drop test schema {}: {dropped:?}", self.name);
        }
    }
}

/// A store in a fresh schema.
pub(crate) async fn fresh() -> (PostgresStore, Scratch) {
    let scratch = Scratch::new().await;
    (scratch.store().await, scratch)
}

/// Two stores (two pools: two workers) on one fresh schema.
pub(crate) async fn fresh_pair() -> (PostgresStore, PostgresStore, Scratch) {
    let scratch = Scratch::new().await;
    let one = scratch.store().await;
    (one, scratch.store().await, scratch)
}

mod contracts {
    crate::store::tests::all_contracts!(crate::store::postgres::tests::fresh().await);
    crate::store::tests::all_pair_contracts!(crate::store::postgres::tests::fresh_pair().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_starting_together_migrate_once_and_all_start() {
    let scratch = Scratch::new().await;
    let url = scratch.url("");
    let starts = (0..6).map(|_| {
        let url = url.clone();
        tokio::spawn(async move { PostgresStore::connect(&url, 1).await })
    });
    for started in futures_util::future::join_all(starts).await {
        started.unwrap().expect("every worker starts");
    }
    let versions: Vec<i64> = admin()
        .await
        .query(
            &format!(
                "SELECT version FROM {}.feedwire_migrations ORDER BY version",
                scratch.name
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    // Each migration applied once.
    assert_eq!(versions, (1..=schema::latest()).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_newer_schema_or_another_programs_tables_are_refused_not_reset() {
    let (store, scratch) = fresh().await;
    drop(store);
    admin()
        .await
        .batch_execute(&format!(
            "INSERT INTO {}.feedwire_migrations VALUES (99, 'from the future', 0)",
            scratch.name
        ))
        .await
        .unwrap();
    let newer = PostgresStore::connect(&scratch.url(""), 1).await;
    assert!(
        matches!(&newer, Err(StoreError::Migrate(m)) if m.contains("99")),
        "{:?}",
        newer.err()
    );

    let foreign = Scratch::new().await;
    admin()
        .await
        .batch_execute(&format!(
            "CREATE TABLE {0}.feeds (x int); INSERT INTO {0}.feeds VALUES (7)",
            foreign.name
        ))
        .await
        .unwrap();
    let refused = PostgresStore::connect(&foreign.url(""), 1).await;
    assert!(
        matches!(&refused, Err(StoreError::Migrate(m)) if m.contains("feeds")),
        "{:?}",
        refused.err()
    );
    let kept: i32 = admin()
        .await
        .query_one(&format!("SELECT x FROM {}.feeds", foreign.name), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, 7);
}

/// Migrations run by an owner, workers by a role that may only read and
/// write rows: starting on an up-to-date schema needs no DDL right.
#[tokio::test]
async fn a_role_without_create_rights_starts_on_an_up_to_date_schema() {
    let (store, scratch) = fresh().await;
    drop(store);
    let role = format!("{}_rw", scratch.name);
    let schema = &scratch.name;
    admin()
        .await
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN;
             GRANT USAGE ON SCHEMA {schema} TO {role};
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role};
             GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {role}"
        ))
        .await
        .unwrap();
    let url = scratch
        .url("")
        .replacen("postgres@", &format!("{role}@"), 1);
    let started = PostgresStore::connect(&url, 1).await;
    let recorded = match &started {
        Ok(store) => Some(
            record(store, "f", &[item("https://x.example/s", "g", "T")])
                .await
                .len(),
        ),
        Err(_) => None,
    };
    drop(started);
    admin()
        .await
        .batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}"))
        .await
        .unwrap();
    assert_eq!(recorded, Some(1));
}

#[tokio::test]
async fn an_unreachable_server_is_an_error_not_a_hang() {
    let started = std::time::Instant::now();
    // Port 1 on loopback: nothing listens there.
    let result = PostgresStore::connect("postgres://postgres@127.0.0.1:1/test", 1).await;
    assert!(
        matches!(result, Err(StoreError::Pool(_))),
        "{:?}",
        result.err()
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// `prefer` talks TLS to a server that offers it (Debian's PostgreSQL does,
/// with a self-signed certificate); `require` checks the certificate, so a
/// self-signed one is refused; `disable` talks plain.
#[tokio::test]
async fn sslmode_prefer_encrypts_require_verifies_disable_does_not_encrypt() {
    let scratch = Scratch::new().await;
    let offered = admin()
        .await
        .query_one("SHOW ssl", &[])
        .await
        .unwrap()
        .get::<_, String>(0)
        == "on";
    let encrypted = |store: PostgresStore| async move {
        store
            .pool()
            .get()
            .await
            .unwrap()
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .unwrap()
            .get::<_, bool>(0)
    };
    let prefer = PostgresStore::connect(&scratch.url(""), 1).await.unwrap();
    assert_eq!(encrypted(prefer).await, offered);
    let disable = PostgresStore::connect(&scratch.url("&sslmode=disable"), 1)
        .await
        .unwrap();
    assert!(!encrypted(disable).await);
    let require = PostgresStore::connect(&scratch.url("&sslmode=require"), 1).await;
    let error = require
        .err()
        .expect("no trusted certificate here")
        .to_string();
    if offered {
        assert!(error.contains("certificate"), "{error}");
    }
}

/// Database round trips per call on the hot path, once each connection
/// has its statements prepared. A story costs: its share of its poll's
/// `record_items` (two round trips when the poll brings something new, one
/// when not), `begin_attempt`, `save_pending`, `mark_published`: 3 plus
/// 2/(stories per poll); claims and heartbeats are per batch.
#[tokio::test]
async fn round_trips_per_call_on_the_hot_path() {
    let scratch = Scratch::new().await;
    // One connection, so the statements prepared below are the ones used.
    let store = PostgresStore::connect(&scratch.url(""), 1).await.unwrap();
    store
        .sync_feeds(&[crate::store::tests::feed("f")])
        .await
        .unwrap();
    let w = worker();
    // Warm up: every statement prepared once.
    let warm = record(&store, "f", &[item("https://x.example/0", "g0", "T")]).await;
    record(&store, "f", &[item("https://x.example/0", "g0", "T2")]).await;
    store.begin_attempt(&warm[0].story_id).await.unwrap();
    store
        .save_pending(&pending(&warm[0], 1, "h"))
        .await
        .unwrap();
    store.mark_published(&warm[0].story_id, 1).await.unwrap();
    store.claim_due_feeds(&w, 0, 10).await.unwrap();
    store
        .save_feed_state(&store.feed_state("f").await.unwrap().unwrap())
        .await
        .unwrap();
    store.claim_unfinished(&w, 0, 10, false).await.unwrap();
    store.heartbeat(&w, 0, &[], &[]).await.unwrap();
    store.next_due_ms(0).await.unwrap();

    let mut last = store.round_trips();
    let mut costs = Vec::new();
    let mut cost = |name: &str, store: &PostgresStore| {
        let now = store.round_trips();
        costs.push((name.to_string(), now - last));
        last = now;
    };
    let items: Vec<_> = (1..=20)
        .map(|i| item(&format!("https://x.example/{i}"), &format!("g{i}"), "T"))
        .collect();
    let tasks = record_as(&store, &w, "f", &items).await;
    cost("record_items, 20 new", &store);
    record_as(&store, &w, "f", &items).await;
    cost("record_items, nothing new", &store);
    store.begin_attempt(&tasks[0].story_id).await.unwrap();
    cost("begin_attempt", &store);
    store
        .save_pending(&pending(&tasks[0], 1, "h"))
        .await
        .unwrap();
    cost("save_pending", &store);
    store.mark_published(&tasks[0].story_id, 1).await.unwrap();
    cost("mark_published", &store);
    store.claim_due_feeds(&w, 0, 10).await.unwrap();
    cost("claim_due_feeds", &store);
    let mut state = store.feed_state("f").await.unwrap().unwrap();
    cost("feed_state", &store);
    state.next_due_ms = 1;
    store.save_feed_state(&state).await.unwrap();
    cost("save_feed_state", &store);
    store.claim_unfinished(&w, 0, 10, false).await.unwrap();
    cost("claim_unfinished", &store);
    let ids: Vec<String> = tasks.iter().map(|t| t.story_id.clone()).collect();
    store.heartbeat(&w, 0, &["f".into()], &ids).await.unwrap();
    cost("heartbeat", &store);
    store.next_due_ms(0).await.unwrap();
    cost("next_due_ms", &store);
    let expected: Vec<(String, u64)> = [
        ("record_items, 20 new", 2),
        ("record_items, nothing new", 1),
        ("begin_attempt", 1),
        ("save_pending", 1),
        ("mark_published", 1),
        ("claim_due_feeds", 1),
        ("feed_state", 1),
        ("save_feed_state", 1),
        ("claim_unfinished", 1),
        ("heartbeat", 1),
        ("next_due_ms", 1),
    ]
    .into_iter()
    .map(|(n, c)| (n.to_string(), c))
    .collect();
    assert_eq!(costs, expected);
}

/// A call dropped half-way (a shutdown's select, a timeout) must not hand
/// the next caller a connection inside its transaction.
#[tokio::test]
async fn a_call_dropped_half_way_leaves_no_transaction_open() {
    let scratch = Scratch::new().await;
    let store = PostgresStore::connect(&scratch.url(""), 1).await.unwrap();
    {
        let mut session = store.session().await.unwrap();
        let [sleep] = session.prepare(["SELECT pg_sleep(0.3)"]).await.unwrap();
        let exchange = session.exchange(vec![wire::BEGIN, wire::Step::Query(&sleep, vec![])]);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), exchange)
                .await
                .is_err()
        );
    }
    {
        // Between the two halves of a transaction.
        let mut session = store.session().await.unwrap();
        session.exchange(vec![wire::BEGIN]).await.unwrap();
    }
    // The same connection (a pool of one); the simple protocol, so the
    // statement's own transaction starts with it.
    let client = store.pool().get().await.unwrap();
    let answer = client
        .simple_query("SELECT transaction_timestamp() = statement_timestamp()")
        .await
        .unwrap();
    let own = answer.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
        _ => None,
    });
    assert_eq!(
        own.as_deref(),
        Some("t"),
        "the statement ran in a transaction of its own"
    );
}

#[tokio::test]
async fn size_is_measured_at_start_and_again_by_stats() {
    let (store, _scratch) = fresh().await;
    let at_start = store.size_bytes().expect("measured at connect");
    assert!(at_start > 0);
    let items: Vec<_> = (0..200)
        .map(|i| {
            let mut it = item(&format!("https://x.example/{i}"), &format!("g{i}"), "T");
            it.summary = Some(format!("{i}").repeat(4_000));
            it
        })
        .collect();
    record(&store, "f", &items).await;
    assert_eq!(store.size_bytes(), Some(at_start), "not a query per call");
    store.stats().await.unwrap();
    assert!(store.size_bytes().unwrap() > at_start);
}
