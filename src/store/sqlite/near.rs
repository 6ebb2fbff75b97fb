//! Near-duplicate prints: one row per story, one index row per LSH band.
//! A lookup and its save are one transaction of a few statements: this runs
//! for every story, on the store's one thread.

use rusqlite::{Connection, OptionalExtension, params};

use crate::dedup::TextPrint;
use crate::store::{NearMatch, NearPrint, PrintLookup, StoreError, earliest_match};

/// Expired prints dropped per call: enough to keep up with any rate of new
/// stories, few enough that no call stalls on a backlog.
const EXPIRE_BATCH: i64 = 32;

fn decode(bytes: &[u8]) -> Result<TextPrint, StoreError> {
    TextPrint::from_bytes(bytes).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// A print's band keys as a JSON array, for `json_each`: one statement
/// reads or writes all of them.
fn bands_json(print: &TextPrint) -> Result<String, StoreError> {
    Ok(serde_json::to_string(&print.bands())?)
}

/// [`crate::store::Store::match_print`], in one transaction.
pub(super) fn match_print(
    conn: &mut Connection,
    story_id: &str,
    print: &TextPrint,
    lookup: PrintLookup,
) -> Result<Option<NearMatch>, StoreError> {
    let tx = conn.transaction()?;
    let previous: Option<(i64, Vec<u8>)> = tx
        .prepare_cached("SELECT id, print FROM near_prints WHERE story_id = ?1")?
        .query_row([story_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let bands = bands_json(print)?;
    let own = previous.as_ref().map(|(id, _)| *id);
    let candidates = near_candidates(&tx, own, &bands, lookup.since_ms)?;
    let found = earliest_match(print, candidates, lookup.min_similarity);
    expire(&tx, lookup.since_ms)?;
    let cluster = found.as_ref().map_or(story_id, |m| m.cluster.as_str());
    let cluster = (cluster != story_id).then_some(cluster);
    let id = match previous {
        Some((id, bytes)) => {
            delete_bands(&tx, id, &decode(&bytes)?)?;
            tx.prepare_cached("UPDATE near_prints SET print = ?2, cluster = ?3 WHERE id = ?1")?
                .execute(params![id, print.to_bytes(), cluster])?;
            id
        }
        None => tx
            .prepare_cached(
                "INSERT INTO near_prints (story_id, printed_ms, print, cluster)
                 VALUES (?1, ?2, ?3, ?4) RETURNING id",
            )?
            .query_row(
                params![story_id, lookup.now_ms, print.to_bytes(), cluster],
                |r| r.get::<_, i64>(0),
            )?,
    };
    tx.prepare_cached(
        "INSERT OR IGNORE INTO near_bands (band, print) SELECT value, ?2 FROM json_each(?1)",
    )?
    .execute(params![bands, id])?;
    tx.commit()?;
    Ok(found)
}

/// Prints earlier than `own` (all, without it) of the window that share a
/// band, earliest first.
fn near_candidates(
    conn: &Connection,
    own: Option<i64>,
    bands: &str,
    since_ms: i64,
) -> Result<Vec<NearPrint>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT p.story_id, s.url, coalesce(p.cluster, p.story_id), p.print
         FROM near_prints p LEFT JOIN stories s ON s.id = p.story_id
         WHERE p.id IN (SELECT b.print FROM near_bands b
                        WHERE b.band IN (SELECT value FROM json_each(?1)))
           AND p.id < ?2 AND p.printed_ms >= ?3
         ORDER BY p.id LIMIT 200",
    )?;
    let mut rows = stmt.query(params![bands, own.unwrap_or(i64::MAX), since_ms])?;
    let mut found = Vec::new();
    while let Some(row) = rows.next()? {
        let bytes: Vec<u8> = row.get(3)?;
        found.push(NearPrint {
            story_id: row.get(0)?,
            url: row.get(1)?,
            cluster: row.get(2)?,
            print: decode(&bytes)?,
        });
    }
    Ok(found)
}

/// Bands are deleted by their key (the primary key), worked out from the
/// print they came from: no second index on the print id.
fn delete_bands(conn: &Connection, id: i64, print: &TextPrint) -> Result<(), StoreError> {
    conn.prepare_cached(
        "DELETE FROM near_bands WHERE print = ?2 AND band IN (SELECT value FROM json_each(?1))",
    )?
    .execute(params![bands_json(print)?, id])?;
    Ok(())
}

/// Drops some prints made before the window, and their bands.
fn expire(conn: &Connection, before_ms: i64) -> Result<(), StoreError> {
    let expired: Vec<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT id, print FROM near_prints WHERE printed_ms < ?1 LIMIT ?2")?
        .query_map(params![before_ms, EXPIRE_BATCH], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    for (id, bytes) in expired {
        delete_bands(conn, id, &decode(&bytes)?)?;
        conn.prepare_cached("DELETE FROM near_prints WHERE id = ?1")?
            .execute([id])?;
    }
    Ok(())
}
