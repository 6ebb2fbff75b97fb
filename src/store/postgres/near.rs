//! Near-duplicate prints, as the SQLite store keeps them: one row per
//! story, one index row per LSH band, bands deleted by their key.

use super::PostgresStore;
use super::wire::{COMMIT, Step, retrying};
use crate::dedup::TextPrint;
use crate::store::{NearMatch, NearPrint, PrintLookup, StoreError, earliest_match};

/// Expired prints dropped per call (as in the SQLite store).
const EXPIRE_BATCH: i64 = 32;

const CANDIDATES: &str =
    "SELECT p.story_id, s.url, coalesce(p.cluster, p.story_id) AS cluster, p.print
     FROM near_prints p LEFT JOIN stories s ON s.id = p.story_id
     WHERE p.id IN (SELECT b.print FROM near_bands b WHERE b.band = ANY($1))
       AND p.id < coalesce((SELECT id FROM near_prints WHERE story_id = $2), 9223372036854775807)
       AND p.printed_ms >= $3
     ORDER BY p.id LIMIT 200";

/// The story's own print and a batch of expired ones: their bands go.
const STALE: &str = "SELECT id, print FROM near_prints WHERE story_id = $1
     UNION
     (SELECT id, print FROM near_prints WHERE printed_ms < $2 ORDER BY printed_ms LIMIT $3)";
const DELETE_BANDS: &str = "DELETE FROM near_bands
     WHERE (band, print) IN (SELECT * FROM unnest($1::bigint[], $2::bigint[]))";
const DELETE_EXPIRED: &str = "DELETE FROM near_prints WHERE id = ANY($1) AND printed_ms < $2";
const UPSERT: &str = "WITH p AS (
        INSERT INTO near_prints (story_id, printed_ms, print, cluster) VALUES ($1, $2, $3, $4)
        ON CONFLICT (story_id) DO UPDATE SET print = excluded.print, cluster = excluded.cluster
        RETURNING id)
     INSERT INTO near_bands (band, print) SELECT b, p.id FROM p, unnest($5::bigint[]) AS b
     ON CONFLICT DO NOTHING";

fn decode(bytes: &[u8]) -> Result<TextPrint, StoreError> {
    TextPrint::from_bytes(bytes).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// [`crate::store::Store::match_print`]: a read, then the write in one
/// transaction. Two workers printing copies of one story at the same moment
/// may miss each other and both stay originals, as a window apart.
pub(super) async fn match_print(
    store: &PostgresStore,
    story_id: &str,
    print: &TextPrint,
    lookup: PrintLookup,
) -> Result<Option<NearMatch>, StoreError> {
    let candidates = retrying(|| near_candidates(store, story_id, print, lookup.since_ms)).await?;
    let found = earliest_match(print, candidates.into_iter().map(Ok), lookup.min_similarity)?;
    let cluster = found.as_ref().map_or(story_id, |m| m.cluster.as_str());
    retrying(|| {
        save_print(
            store,
            story_id,
            print,
            cluster,
            lookup.now_ms,
            lookup.since_ms,
        )
    })
    .await?;
    Ok(found)
}

async fn near_candidates(
    store: &PostgresStore,
    story_id: &str,
    print: &TextPrint,
    since_ms: i64,
) -> Result<Vec<NearPrint>, StoreError> {
    let mut s = store.session().await?;
    let [query] = s.prepare([CANDIDATES]).await?;
    let bands = print.bands().to_vec();
    let rows = s.query(&query, vec![&bands, &story_id, &since_ms]).await?;
    rows.iter()
        .map(|r| {
            Ok(NearPrint {
                story_id: r.try_get("story_id")?,
                url: r.try_get("url")?,
                cluster: r.try_get("cluster")?,
                print: decode(r.try_get("print")?)?,
            })
        })
        .collect()
}

async fn save_print(
    store: &PostgresStore,
    story_id: &str,
    print: &TextPrint,
    cluster: &str,
    now_ms: i64,
    expire_before_ms: i64,
) -> Result<(), StoreError> {
    let mut s = store.session().await?;
    let [stale_q, delete_bands, delete_expired, upsert] = s
        .prepare([STALE, DELETE_BANDS, DELETE_EXPIRED, UPSERT])
        .await?;
    let stale = s
        .query(&stale_q, vec![&story_id, &expire_before_ms, &EXPIRE_BATCH])
        .await?;
    let (mut band_keys, mut band_prints, mut ids) = (Vec::new(), Vec::new(), Vec::new());
    for row in &stale {
        let id: i64 = row.try_get("id")?;
        for band in decode(row.try_get("print")?)?.bands() {
            band_keys.push(band);
            band_prints.push(id);
        }
        ids.push(id);
    }
    let cluster = (cluster != story_id).then_some(cluster);
    let bytes = print.to_bytes();
    let bands = print.bands().to_vec();
    s.exchange(vec![
        Step::Text("BEGIN"),
        Step::Query(&delete_bands, vec![&band_keys, &band_prints]),
        Step::Query(&delete_expired, vec![&ids, &expire_before_ms]),
        Step::Query(&upsert, vec![&story_id, &now_ms, &bytes, &cluster, &bands]),
        COMMIT,
    ])
    .await?;
    Ok(())
}
