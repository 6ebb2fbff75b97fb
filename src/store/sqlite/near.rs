//! Near-duplicate prints: one row per story on disk, its LSH bands in the
//! store thread's memory ([`BandIndex`]). A lookup and its save are one
//! transaction of a few statements: this runs for every story, on the
//! store's one thread.

use rusqlite::{Connection, OptionalExtension, params};

use super::bands::BandIndex;
use crate::dedup::TextPrint;
use crate::store::{NearMatch, NearPrint, PrintLookup, StoreError, earliest_match};

/// Expired prints dropped per call: enough to keep up with any rate of new
/// stories, few enough that no call stalls on a backlog.
const EXPIRE_BATCH: i64 = 32;

/// Candidates of the window compared per lookup, at most: a wire story run
/// by hundreds of sites has its original among the earliest.
const MAX_CANDIDATES: usize = 200;

fn decode(bytes: &[u8]) -> Result<TextPrint, StoreError> {
    TextPrint::from_bytes(bytes).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// The band index of every print the store holds, built when it opens.
pub(super) fn load_bands(conn: &Connection) -> Result<BandIndex, StoreError> {
    let mut index = BandIndex::default();
    let mut stmt = conn.prepare("SELECT id, print FROM near_prints")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let bytes: Vec<u8> = row.get(1)?;
        index.insert(row.get(0)?, &decode(&bytes)?)?;
    }
    Ok(index)
}

/// [`crate::store::Store::match_print`], in one transaction; the band
/// index changes only once it has committed.
pub(super) fn match_print(
    conn: &mut Connection,
    index: &mut BandIndex,
    story_id: &str,
    print: &TextPrint,
    lookup: PrintLookup,
) -> Result<Option<NearMatch>, StoreError> {
    let tx = conn.transaction()?;
    // Expired first: a story whose own print has left the window is then
    // printed anew, as the PostgreSQL store does.
    let expired = expire(&tx, lookup.since_ms)?;
    let previous: Option<(i64, Vec<u8>)> = tx
        .prepare_cached("SELECT id, print FROM near_prints WHERE story_id = ?1")?
        .query_row([story_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let own = previous.as_ref().map_or(i64::MAX, |(id, _)| *id);
    let ids = index.candidates(print, own);
    let mut found = earliest_match(
        print,
        window_prints(&tx, &ids, lookup.since_ms),
        lookup.min_similarity,
    )?;
    if let Some(m) = found.as_mut() {
        m.url = story_url(&tx, &m.story_id)?;
    }
    let cluster = found.as_ref().map_or(story_id, |m| m.cluster.as_str());
    let cluster = (cluster != story_id).then_some(cluster);
    let (id, replaced) = match previous {
        Some((id, bytes)) => {
            tx.prepare_cached("UPDATE near_prints SET print = ?2, cluster = ?3 WHERE id = ?1")?
                .execute(params![id, print.to_bytes(), cluster])?;
            (id, Some(decode(&bytes)?))
        }
        None => {
            let id = tx
                .prepare_cached(
                    "INSERT INTO near_prints (story_id, printed_ms, print, cluster)
                     VALUES (?1, ?2, ?3, ?4) RETURNING id",
                )?
                .query_row(
                    params![story_id, lookup.now_ms, print.to_bytes(), cluster],
                    |r| r.get::<_, i64>(0),
                )?;
            (id, None)
        }
    };
    tx.commit()?;
    for (gone, old) in &expired {
        index.remove(*gone, old);
    }
    if let Some(old) = &replaced {
        index.remove(id, old);
    }
    index.insert(id, print)?;
    Ok(found)
}

/// The prints of `ids` (earliest first) made within the window, read one
/// at a time as the match needs them, at most [`MAX_CANDIDATES`]. Their
/// URLs are not read: only the match's is needed.
fn window_prints<'a>(
    conn: &'a Connection,
    ids: &'a [i64],
    since_ms: i64,
) -> impl Iterator<Item = Result<NearPrint, StoreError>> + 'a {
    ids.iter()
        .filter_map(move |&id| candidate(conn, id, since_ms).transpose())
        .take(MAX_CANDIDATES)
}

fn candidate(conn: &Connection, id: i64, since_ms: i64) -> Result<Option<NearPrint>, StoreError> {
    let row: Option<(String, String, Vec<u8>)> = conn
        .prepare_cached(
            "SELECT story_id, coalesce(cluster, story_id), print FROM near_prints
             WHERE id = ?1 AND printed_ms >= ?2",
        )?
        .query_row(params![id, since_ms], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    row.map(|(story_id, cluster, bytes)| {
        Ok(NearPrint {
            story_id,
            url: None,
            cluster,
            print: decode(&bytes)?,
        })
    })
    .transpose()
}

/// The URL of the story a print matched.
fn story_url(conn: &Connection, story_id: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT url FROM stories WHERE id = ?1")?
        .query_row([story_id], |r| r.get(0))
        .optional()?
        .flatten())
}

/// Drops some prints made before the window and returns them (for the band
/// index). Prints are walked in id order, which is the order they were made
/// in: the first one still in the window ends the walk, so no index on
/// `printed_ms`.
fn expire(conn: &Connection, before_ms: i64) -> Result<Vec<(i64, TextPrint)>, StoreError> {
    // Most calls find the oldest print in the window: one row read.
    let oldest_ms: Option<i64> = conn
        .prepare_cached("SELECT printed_ms FROM near_prints ORDER BY id LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    if oldest_ms.is_none_or(|ms| ms >= before_ms) {
        return Ok(Vec::new());
    }
    let oldest: Vec<(i64, i64, Vec<u8>)> = conn
        .prepare_cached(&format!(
            "SELECT id, printed_ms, print FROM near_prints ORDER BY id LIMIT {EXPIRE_BATCH}"
        ))?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut expired = Vec::new();
    for (id, _, bytes) in oldest.into_iter().take_while(|(_, ms, _)| *ms < before_ms) {
        conn.prepare_cached("DELETE FROM near_prints WHERE id = ?1")?
            .execute([id])?;
        expired.push((id, decode(&bytes)?));
    }
    Ok(expired)
}
