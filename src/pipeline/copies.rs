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
use crate::store::{PrintLookup, StoreError};

/// Sets the message's `duplicate_of` and `cluster` from the store's
/// earlier prints, and keeps the story's print for the copies to come.
/// Nothing happens without a print: the lookup is off (the story step
/// then makes none) or the text is too short to have one.
pub(super) async fn mark_copies(
    ctx: &Context,
    message: &mut ArticleMessage,
    print: Option<TextPrint>,
) -> Result<(), StoreError> {
    let config = &ctx.config.duplicates;
    let Some(print) = print else {
        return Ok(());
    };
    let now = Utc::now().timestamp_millis();
    let window = i64::try_from(config.window.as_millis()).unwrap_or(i64::MAX);
    let lookup = PrintLookup {
        since_ms: now.saturating_sub(window),
        now_ms: now,
        min_similarity: config.min_similarity,
    };
    let found = ctx.store.match_print(&message.id, &print, lookup).await?;
    message.cluster = Some(
        found
            .as_ref()
            .map_or_else(|| message.id.clone(), |m| m.cluster.clone()),
    );
    message.duplicate_of = found.map(|m| DuplicateOf {
        id: m.story_id,
        url: m.url,
        similarity: (m.similarity * 1000.0).round() / 1000.0,
    });
    Ok(())
}
