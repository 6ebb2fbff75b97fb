//! Moving a deployment's SQLite store to PostgreSQL (`feedwire store
//! migrate`).
//!
//! Everything a worker needs to carry on is moved: feeds (settings,
//! origin, poll state), stories with every column, identity keys
//! (ambiguous ones included), sightings, the archive in its order with its
//! seq, and replay positions. Near-duplicate prints are not: they serve a
//! window of days, and the stories of the first window after the move are
//! compared with each other only. Claims are not moved either: leases and
//! the workers table belong to processes of the old deployment (a story's
//! "not before" time after a release is kept, being no claim).
//!
//! The source is opened as the worker opens it (checked, upgraded to the
//! current schema), then read in one read transaction, table by table, on
//! a thread of its own that hands batches to the writer; the target is
//! written in one transaction, so a failure leaves it as it was. A target
//! that holds anything is refused unless [`MigrateOptions::into_non_empty`]
//! is set: rows it has already then stay as they are, and the moved archive
//! is numbered after the target's (replay positions moved with it).

use std::fmt;
use std::path::Path;

use rusqlite::types::ValueRef;
use tokio_postgres::types::ToSql;

use super::{PostgresStore, SqliteStore, StoreError};

#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// Merge into a target that holds a store already.
    pub into_non_empty: bool,
    /// Rows per insert, at most.
    pub batch_rows: usize,
    /// Bytes of text and bodies per insert, about.
    pub batch_bytes: usize,
}

impl Default for MigrateOptions {
    fn default() -> MigrateOptions {
        MigrateOptions {
            into_non_empty: false,
            batch_rows: 1_000,
            batch_bytes: 8 << 20,
        }
    }
}

/// Rows moved, per table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    pub feeds: u64,
    pub stories: u64,
    pub story_keys: u64,
    pub sightings: u64,
    pub archived_messages: u64,
    pub replay_positions: u64,
    /// WebSub subscriptions: hubs keep calling their callbacks.
    pub subscriptions: u64,
    /// Rows the target had already (merging only): left as they were.
    pub skipped: u64,
    /// Added to each moved message's seq and replay position: 0 unless
    /// the target's archive had messages.
    pub seq_offset: i64,
}

impl fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "feeds              {}", self.feeds)?;
        writeln!(f, "stories            {}", self.stories)?;
        writeln!(f, "story keys         {}", self.story_keys)?;
        writeln!(f, "sightings          {}", self.sightings)?;
        writeln!(f, "subscriptions      {}", self.subscriptions)?;
        write!(f, "archived messages  {}", self.archived_messages)?;
        if self.seq_offset != 0 {
            write!(
                f,
                " (numbered after the target's: seq + {})",
                self.seq_offset
            )?;
        }
        writeln!(f)?;
        write!(f, "replay positions   {}", self.replay_positions)?;
        if self.skipped > 0 {
            write!(
                f,
                "\nskipped            {} (the target had them)",
                self.skipped
            )?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Text,
    Int,
    Bytes,
}

/// A table: its PostgreSQL columns, each read by an SQLite expression.
struct Table {
    name: &'static str,
    columns: &'static [(&'static str, &'static str, Kind)],
    order: &'static str,
}

use Kind::{Bytes, Int, Text};

/// `?1` in an expression is the seq offset.
const TABLES: &[Table] = &[
    Table {
        name: "feeds",
        columns: &[
            ("id", "id", Text),
            ("url", "url", Text),
            ("title", "title", Text),
            ("etag", "etag", Text),
            ("last_modified", "last_modified", Text),
            ("next_due_ms", "next_due_ms", Int),
            ("consecutive_failures", "consecutive_failures", Int),
            ("last_polled_ms", "last_polled_ms", Int),
            ("last_status", "last_status", Text),
            ("last_error", "last_error", Text),
            ("moved_url", "moved_url", Text),
            ("pace_gap_ms", "pace_gap_ms", Int),
            ("newest_item_ms", "newest_item_ms", Int),
            ("ttl_ms", "ttl_ms", Int),
            ("skip_hours", "skip_hours", Int),
            ("skip_days", "skip_days", Int),
            ("spec", "spec", Text),
            ("origin", "origin", Text),
        ],
        order: "id",
    },
    Table {
        name: "stories",
        columns: &[
            ("id", "id", Text),
            ("state", "state", Text),
            ("feed_id", "feed_id", Text),
            ("url", "url", Text),
            ("item", "item", Text),
            ("revision", "revision", Int),
            ("content_hash", "content_hash", Text),
            ("pending_revision", "pending_revision", Int),
            ("pending_hash", "pending_hash", Text),
            ("pending_event", "pending_event", Text),
            ("pending_routing_key", "pending_routing_key", Text),
            ("pending_timestamp", "pending_timestamp", Int),
            ("pending_body", "pending_body", Bytes),
            ("first_seen_ms", "first_seen_ms", Int),
            ("changed_ms", "changed_ms", Int),
            ("published_ms", "published_ms", Int),
            ("item_version", "item_version", Int),
            ("pending_item_version", "pending_item_version", Int),
            ("pending_status", "pending_status", Text),
            ("status", "status", Text),
            ("attempts", "attempts", Int),
            // A lease is the old worker's; a released story's wait is kept.
            (
                "lease_until",
                "CASE WHEN lease_owner IS NULL THEN lease_until END",
                Int,
            ),
        ],
        order: "id",
    },
    Table {
        name: "story_keys",
        columns: &[("key", "key", Text), ("story_id", "story_id", Text)],
        order: "key",
    },
    Table {
        name: "sightings",
        columns: &[
            ("feed_id", "feed_id", Text),
            ("story_id", "story_id", Text),
            ("fingerprint", "fingerprint", Text),
            ("guid", "guid", Text),
            ("fragment", "fragment", Text),
            ("body", "body", Text),
        ],
        order: "feed_id, story_id",
    },
    Table {
        name: "subscriptions",
        columns: &[
            ("feed_id", "feed_id", Text),
            ("id", "id", Text),
            ("hub", "hub", Text),
            ("topic", "topic", Text),
            ("secret", "secret", Text),
            ("state", "state", Text),
            ("lease_until_ms", "lease_until_ms", Int),
            ("reason", "reason", Text),
            ("asked_ms", "asked_ms", Int),
        ],
        order: "feed_id",
    },
    Table {
        name: "archive",
        columns: &[
            ("seq", "seq + ?1", Int),
            ("story_id", "story_id", Text),
            ("revision", "revision", Int),
            ("feed_id", "feed_id", Text),
            ("event", "event", Text),
            ("routing_key", "routing_key", Text),
            ("timestamp", "timestamp", Int),
            ("published_ms", "published_ms", Int),
            ("body", "body", Bytes),
        ],
        order: "seq",
    },
    Table {
        name: "replay_progress",
        columns: &[
            ("name", "name", Text),
            ("last_seq", "last_seq + ?1", Int),
            ("updated_ms", "updated_ms", Int),
        ],
        order: "name",
    },
];

enum Column {
    Text(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
    Bytes(Vec<Option<Vec<u8>>>),
}

impl Column {
    fn param(&self) -> &(dyn ToSql + Sync) {
        match self {
            Column::Text(v) => v,
            Column::Int(v) => v,
            Column::Bytes(v) => v,
        }
    }
}

/// Rows of one table, column by column (the insert's arrays).
struct Batch {
    table: usize,
    rows: u64,
    columns: Vec<Column>,
}

pub async fn sqlite_to_postgres(
    sqlite_path: &Path,
    pg: &PostgresStore,
) -> Result<MigrationReport, StoreError> {
    sqlite_to_postgres_with(sqlite_path, pg, &MigrateOptions::default()).await
}

pub async fn sqlite_to_postgres_with(
    sqlite_path: &Path,
    pg: &PostgresStore,
    options: &MigrateOptions,
) -> Result<MigrationReport, StoreError> {
    if !sqlite_path.exists() {
        return Err(StoreError::Migrate(format!(
            "{}: no such file",
            sqlite_path.display()
        )));
    }
    // Checked and brought to the current schema, as a worker would.
    drop(SqliteStore::open(sqlite_path)?);
    let mut client = pg.pool().get().await?;
    let tx = client.transaction().await?;
    // Two migrations into one database take turns.
    tx.batch_execute(
        "SELECT pg_advisory_xact_lock(hashtext('feedwire.store-migrate'), hashtext(current_schema()))",
    )
    .await?;
    let holds: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM feeds) OR EXISTS (SELECT 1 FROM stories)
                OR EXISTS (SELECT 1 FROM story_keys) OR EXISTS (SELECT 1 FROM archive)
                OR EXISTS (SELECT 1 FROM replay_progress)",
            &[],
        )
        .await?
        .get(0);
    if holds && !options.into_non_empty {
        return Err(StoreError::Migrate(
            "the target already holds a feedwire store (feeds, stories or archive): migrate into an empty one, or merge into it explicitly".into(),
        ));
    }
    let seq_offset: i64 = tx
        .query_one("SELECT coalesce(max(seq), 0) FROM archive", &[])
        .await?
        .get(0);
    let (sender, mut batches) = tokio::sync::mpsc::channel(2);
    let reader = {
        let (path, options) = (sqlite_path.to_path_buf(), options.clone());
        std::thread::Builder::new()
            .name("feedwire-migrate".into())
            .spawn(move || {
                if let Err(error) = read_all(&path, seq_offset, &options, &sender) {
                    let _ = sender.blocking_send(Err(error));
                }
            })
            .map_err(|e| StoreError::Task(format!("cannot start the reader: {e}")))?
    };
    let mut inserts = Vec::new();
    for table in TABLES {
        let names: Vec<&str> = table.columns.iter().map(|c| c.0).collect();
        let arrays: Vec<String> = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let kind = match c.2 {
                    Text => "text",
                    Int => "bigint",
                    Bytes => "bytea",
                };
                format!("${}::{kind}[]", i + 1)
            })
            .collect();
        inserts.push(
            tx.prepare(&format!(
                "INSERT INTO {} ({}) SELECT * FROM unnest({}) ON CONFLICT DO NOTHING",
                table.name,
                names.join(", "),
                arrays.join(", ")
            ))
            .await?,
        );
    }
    let mut report = MigrationReport {
        seq_offset,
        ..MigrationReport::default()
    };
    while let Some(batch) = batches.recv().await {
        let batch = batch?;
        let params: Vec<&(dyn ToSql + Sync)> = batch.columns.iter().map(Column::param).collect();
        let written = tx.execute(&inserts[batch.table], &params).await?;
        report.skipped += batch.rows - written;
        *match TABLES[batch.table].name {
            "feeds" => &mut report.feeds,
            "stories" => &mut report.stories,
            "story_keys" => &mut report.story_keys,
            "sightings" => &mut report.sightings,
            "archive" => &mut report.archived_messages,
            "subscriptions" => &mut report.subscriptions,
            _ => &mut report.replay_positions,
        } += written;
    }
    reader
        .join()
        .map_err(|_| StoreError::Task("the SQLite reader panicked".into()))?;
    // New messages are numbered after the moved ones.
    tx.execute(
        "SELECT setval(pg_get_serial_sequence('archive', 'seq'), max(seq))
         FROM archive HAVING max(seq) IS NOT NULL",
        &[],
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}

/// Reads every table in one read transaction (one snapshot of the file),
/// and sends it in batches.
fn read_all(
    path: &Path,
    seq_offset: i64,
    options: &MigrateOptions,
    sender: &tokio::sync::mpsc::Sender<Result<Batch, StoreError>>,
) -> Result<(), StoreError> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch("BEGIN")?;
    for (index, table) in TABLES.iter().enumerate() {
        let expressions: Vec<&str> = table.columns.iter().map(|c| c.1).collect();
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {}",
            expressions.join(", "),
            table.name,
            table.order
        );
        let mut stmt = conn.prepare(&sql)?;
        let takes_offset = stmt.parameter_count() == 1;
        let mut rows = if takes_offset {
            stmt.query([seq_offset])?
        } else {
            stmt.query([])?
        };
        let empty = || Batch {
            table: index,
            rows: 0,
            columns: table
                .columns
                .iter()
                .map(|c| match c.2 {
                    Text => Column::Text(Vec::new()),
                    Int => Column::Int(Vec::new()),
                    Bytes => Column::Bytes(Vec::new()),
                })
                .collect(),
        };
        let mut batch = empty();
        let mut bytes = 0usize;
        while let Some(row) = rows.next()? {
            for (i, column) in batch.columns.iter_mut().enumerate() {
                let value = row.get_ref(i)?;
                bytes += match value {
                    ValueRef::Text(t) | ValueRef::Blob(t) => t.len(),
                    _ => 8,
                };
                match column {
                    Column::Text(v) => v.push(row.get(i)?),
                    Column::Int(v) => v.push(row.get(i)?),
                    Column::Bytes(v) => v.push(row.get(i)?),
                }
            }
            batch.rows += 1;
            if batch.rows as usize >= options.batch_rows || bytes >= options.batch_bytes {
                let full = std::mem::replace(&mut batch, empty());
                bytes = 0;
                if sender.blocking_send(Ok(full)).is_err() {
                    return Ok(()); // The writer failed; it reports why.
                }
            }
        }
        if batch.rows > 0 && sender.blocking_send(Ok(batch)).is_err() {
            return Ok(());
        }
    }
    conn.execute_batch("COMMIT")?;
    Ok(())
}

#[cfg(test)]
#[path = "migrate_tests.rs"]
mod tests;
