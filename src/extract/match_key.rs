//! One key to compare texts whatever their spacing, punctuation and case.

/// A text reduced to its lower-cased letters and digits, to compare two
/// texts (a title and a site name, a description and a paragraph) whatever
/// their spacing, punctuation and case.
pub(crate) fn match_key(s: &str) -> String {
    // Called on every line and block of a page (`choose`, `prune`): ASCII,
    // most of any page, skips the Unicode tables.
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            }
        } else if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::match_key;

    #[test]
    fn ignores_case_spacing_and_punctuation() {
        assert_eq!(match_key("Hello, World!  2026"), "helloworld2026");
        assert_eq!(match_key("Ünïcode—Über"), "ünïcodeüber");
        assert_ne!(match_key("a b"), match_key("a c"));
        // Capital letters that lower-case to more than one char, digits of
        // other scripts.
        assert_eq!(match_key("İx ٣"), "i\u{307}x٣");
    }
}
