//! Text handling shared by the feed reader and the page extractor, so a
//! feed and a page are decoded, dated and rendered by the same rules.

pub mod charset;
pub mod dates;
pub mod html_text;

/// The longest prefix of `s` of at most `max` bytes that ends on a char
/// boundary: a cap on the work done on a text, never a panic mid-character.
pub fn truncate_at_char_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Collapse all whitespace (newlines included) to single spaces.
pub fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_never_splits_a_character() {
        assert_eq!(truncate_at_char_boundary("héllo", 2), "h");
        assert_eq!(truncate_at_char_boundary("héllo", 3), "hé");
        assert_eq!(truncate_at_char_boundary("short", 80), "short");
        assert_eq!(truncate_at_char_boundary("é", 0), "");
    }
}
