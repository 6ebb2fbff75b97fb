//! One key to compare texts whatever their spacing, punctuation and case.

/// A text reduced to its lower-cased letters and digits, to compare two
/// texts (a title and a site name, a description and a paragraph) whatever
/// their spacing, punctuation and case.
pub(crate) fn match_key(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::match_key;

    #[test]
    fn ignores_case_spacing_and_punctuation() {
        assert_eq!(match_key("Hello, World!  2026"), "helloworld2026");
        assert_eq!(match_key("Ünïcode—Über"), "ünïcodeüber");
        assert_ne!(match_key("a b"), match_key("a c"));
    }
}
