//! Text handling shared by the feed reader and the page extractor, so a
//! feed and a page are decoded by the same rules.

pub mod charset;
pub mod dates;
