//! Near-duplicates across sources: a story's text is looked up among the
//! earlier stories of the window before its message goes out, so a copy
//! carries `duplicate_of` and its original's `cluster`.
//!
//! The print is kept before the message is (pending): a crash in between
//! rebuilds the story, which finds its own print and skips it. Two copies
//! built at the same moment by two workers may both miss each other; they
//! are then two originals, as they would be a window apart.

use chrono::Utc;

use super::Context;
use crate::dedup::TextPrint;
use crate::message::{ArticleMessage, DuplicateOf};
use crate::store::{NearPrint, StoreError};

/// Sets the message's `duplicate_of` and `cluster` from the store's
/// earlier prints, and keeps the story's print for the copies to come.
/// Nothing happens when the lookup is off or the text is too short to
/// have a print.
pub(super) async fn mark_copies(
    ctx: &Context,
    message: &mut ArticleMessage,
    print: Option<TextPrint>,
) -> Result<(), StoreError> {
    let config = &ctx.config.duplicates;
    let Some(print) = print.filter(|_| config.enabled) else {
        return Ok(());
    };
    let now = Utc::now().timestamp_millis();
    let since = now.saturating_sub(i64::try_from(config.window.as_millis()).unwrap_or(i64::MAX));
    let candidates = ctx.store.near_candidates(&message.id, &print, since).await?;
    let original = earliest_copied(&print, &candidates, config.min_similarity);
    let cluster = original.map_or_else(|| message.id.clone(), |(c, _)| c.cluster.clone());
    ctx.store
        .save_print(&message.id, &print, &cluster, now, since)
        .await?;
    message.duplicate_of = original.map(|(c, similarity)| DuplicateOf {
        id: c.story_id.clone(),
        url: c.url.clone(),
        similarity: (similarity * 1000.0).round() / 1000.0,
    });
    message.cluster = Some(cluster);
    Ok(())
}

/// The earliest candidate (the store gives them earliest first) whose
/// similarity reaches `min_similarity`: the original, rather than another
/// copy of it that happens to be a little closer.
fn earliest_copied<'a>(
    print: &TextPrint,
    candidates: &'a [NearPrint],
    min_similarity: f64,
) -> Option<(&'a NearPrint, f64)> {
    candidates
        .iter()
        .map(|c| (c, print.similarity(&c.print)))
        .find(|(_, similarity)| *similarity >= min_similarity)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(words: &[&str], count: usize, seed: usize) -> String {
        (0..count)
            .map(|i| words[(i * 7 + seed * 13 + i / 5) % words.len()])
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn the_earliest_close_enough_candidate_is_the_original() {
        let words: Vec<String> = (0..300).map(|i| format!("w{i}")).collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let body = text(&words, 300, 0);
        let print = TextPrint::of(&body).unwrap();
        let others: Vec<String> = (0..300).map(|i| format!("x{i}")).collect();
        let others: Vec<&str> = others.iter().map(String::as_str).collect();
        let far = TextPrint::of(&text(&others, 300, 5)).unwrap();
        let candidate = |id: &str, print: TextPrint| NearPrint {
            story_id: id.into(),
            url: None,
            cluster: "c".into(),
            print,
        };
        let candidates = [
            candidate("unrelated", far),
            candidate("original", print),
            candidate("later-copy", print),
        ];
        let (found, similarity) = earliest_copied(&print, &candidates, 0.5).unwrap();
        assert_eq!(found.story_id, "original");
        assert_eq!(similarity, 1.0);
        assert!(earliest_copied(&print, &candidates[..1], 0.5).is_none());
    }
}
