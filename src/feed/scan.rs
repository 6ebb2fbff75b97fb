//! Fields feed-rs drops, read from the document beside it: RSS
//! `<skipHours>`/`<skipDays>`, and each item's `media:thumbnail` (feed-rs
//! keeps one only beside a `media:content`).

use super::rewrite::{attr_value, skip_special};
use crate::schedule::SkipSchedule;

/// RSS `<skipHours>` and `<skipDays>` (feed-rs does not read them).
pub fn scan_skip_schedule(s: &str) -> SkipSchedule {
    let mut skip = SkipSchedule::default();
    for hour in element_texts(block(s, "skipHours"), "hour") {
        // Some feeds write 24 for midnight.
        if let Ok(hour @ 0..=24) = hour.trim().parse::<u32>() {
            skip.hours |= 1 << (hour % 24);
        }
    }
    for day in element_texts(block(s, "skipDays"), "day") {
        if let Ok(day) = day.trim().parse::<chrono::Weekday>() {
            skip.days |= 1 << day.num_days_from_monday();
        }
    }
    skip
}

/// The text between `<name>` and `</name>` (first occurrence), or "".
fn block<'a>(s: &'a str, name: &str) -> &'a str {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    s.find(&open)
        .map(|start| &s[start + open.len()..])
        .and_then(|rest| rest.find(&close).map(|end| &rest[..end]))
        .unwrap_or("")
}

/// The texts of every `<name>...</name>` in `s`.
fn element_texts<'a>(s: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find(&open) {
        rest = &rest[start + open.len()..];
        let Some(end) = rest.find(&close) else { break };
        out.push(&rest[..end]);
        rest = &rest[end + close.len()..];
    }
    out
}

/// Per item/entry (in document order), the URL of its first `media:thumbnail`,
/// or failing that of a `media:content medium="image"`. feed-rs drops
/// thumbnails that are not accompanied by `media:content`, so we scan for them.
pub fn scan_item_images(s: &str) -> Vec<Option<String>> {
    let mut out: Vec<Option<String>> = Vec::new();
    let mut fallback: Vec<Option<String>> = Vec::new();
    let mut i = 0;
    while let Some(off) = s[i..].find('<') {
        i += off;
        if let Some(next) = skip_special(s, i) {
            i = next;
            continue;
        }
        let end = s[i..].find('>').map_or(s.len(), |j| i + j + 1);
        let tag = &s[i..end];
        i = end;
        if tag.starts_with("</") {
            continue;
        }
        let name = tag[1..]
            .split(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .next()
            .unwrap_or("");
        let (prefix, local) = name.rsplit_once(':').unwrap_or(("", name));
        match local {
            "item" | "entry" if prefix.is_empty() || prefix == "rss" || prefix == "atom" => {
                out.push(None);
                fallback.push(None);
            }
            "thumbnail" if prefix == "media" => {
                if let (Some(slot @ None), Some(url)) = (out.last_mut(), attr_value(tag, "url")) {
                    *slot = Some(url.trim().to_string());
                }
            }
            "content" if prefix == "media" => {
                let is_image = attr_value(tag, "medium")
                    .is_some_and(|m| m.eq_ignore_ascii_case("image"))
                    || attr_value(tag, "type")
                        .is_some_and(|t| t.to_ascii_lowercase().starts_with("image/"));
                if is_image
                    && let (Some(slot @ None), Some(url)) =
                        (fallback.last_mut(), attr_value(tag, "url"))
                {
                    *slot = Some(url.trim().to_string());
                }
            }
            _ => {}
        }
    }
    out.into_iter()
        .zip(fallback)
        .map(|(a, b)| a.or(b))
        .collect()
}
