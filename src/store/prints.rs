//! Near-duplicate prints as the store keeps and looks them up
//! (`Store::match_print`; the print itself is `dedup::near`).

use super::StoreError;
use crate::dedup::TextPrint;

/// A story's near-duplicate print as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NearPrint {
    pub story_id: String,
    /// The story's identity URL, when it has one.
    pub url: Option<String>,
    /// The id of the first story of its cluster (its own when it copies none).
    pub cluster: String,
    pub print: TextPrint,
}

/// How a print is looked up: the window and the similarity a match needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrintLookup {
    /// Prints made before this are out of the window (and dropped).
    pub since_ms: i64,
    /// When this print is made.
    pub now_ms: i64,
    pub min_similarity: f64,
}

/// The earlier story a print matched.
#[derive(Debug, Clone, PartialEq)]
pub struct NearMatch {
    pub story_id: String,
    /// Its identity URL, when it has one.
    pub url: Option<String>,
    /// The first story of its cluster, which the matching story joins.
    pub cluster: String,
    pub similarity: f64,
}

/// The earliest of `candidates` (given earliest first, read as far as
/// needed) whose similarity to `print` reaches `min_similarity`: the
/// original, rather than another copy of it that happens to be a little
/// closer.
pub(crate) fn earliest_match(
    print: &TextPrint,
    candidates: impl IntoIterator<Item = Result<NearPrint, StoreError>>,
    min_similarity: f64,
) -> Result<Option<NearMatch>, StoreError> {
    for candidate in candidates {
        let c = candidate?;
        let similarity = print.similarity(&c.print);
        if similarity >= min_similarity {
            return Ok(Some(NearMatch {
                story_id: c.story_id,
                url: c.url,
                cluster: c.cluster,
                similarity,
            }));
        }
    }
    Ok(None)
}
