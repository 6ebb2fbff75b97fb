//! Property tests: whatever the input, extraction returns without panicking
//! and its text keeps feedwire's format (no run of blank lines, no leading or
//! trailing whitespace).

use proptest::prelude::*;

use super::{decode_html, extract};

const TAGS: &[&str] = &[
    "html",
    "head",
    "body",
    "title",
    "meta",
    "article",
    "main",
    "div",
    "section",
    "p",
    "span",
    "a",
    "b",
    "i",
    "h1",
    "h2",
    "ul",
    "ol",
    "li",
    "table",
    "tr",
    "td",
    "pre",
    "br",
    "img",
    "figure",
    "figcaption",
    "nav",
    "footer",
    "aside",
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "iframe",
    "form",
    "button",
    "textarea",
    "select",
    "option",
    "blockquote",
    "header",
];

const ATTRS: &[&str] = &[
    "",
    " class=\"byline\"",
    " class=\"article-body\"",
    " class=\"related-links\"",
    " id=\"cookie-banner\"",
    " hidden",
    " aria-hidden=\"true\"",
    " style=\"display: none\"",
    " itemprop=\"articleBody\"",
    " data-component=\"text-block\"",
    " property=\"og:title\" content=\"A title\"",
    " name=\"author\" content=\"By Jo Bloggs\"",
    " type=\"application/ld+json\"",
    " lang=\"en\"",
    " href=\"/x\"",
    " class='unterminated",
];

const TEXTS: &[&str] = &[
    "Hello world.",
    "  \n\n\n  ",
    "\t",
    "By Jane Doe",
    "Advertisement",
    "Read more: elsewhere",
    "\u{a0}\u{2003}non-breaking\u{a0}",
    "x &amp; y &lt;z&gt; &#0; &#xD800; &bogus;",
    "{\"@type\":\"NewsArticle\",\"headline\":\"H\",\"articleBody\":\"Body\\n\\n\\nmore\"}",
    "The council voted on Tuesday to approve the plan after months of debate with residents.",
    "<!-- comment -->",
    "<![CDATA[ data ]]>",
    "<",
    ">",
    "</",
    "\r\n",
    "日本語のテキスト。",
    "\u{200b}\u{feff}",
];

/// One token of tag soup: an open tag (with an attribute), a close tag, a
/// self-closing tag or text. Tags need not balance.
fn token() -> impl Strategy<Value = String> {
    let tag = || proptest::sample::select(TAGS);
    prop_oneof![
        (tag(), proptest::sample::select(ATTRS)).prop_map(|(t, a)| format!("<{t}{a}>")),
        tag().prop_map(|t| format!("</{t}>")),
        (tag(), proptest::sample::select(ATTRS)).prop_map(|(t, a)| format!("<{t}{a}/>")),
        proptest::sample::select(TEXTS).prop_map(str::to_string),
        proptest::sample::select(TEXTS).prop_map(str::to_string),
    ]
}

fn soup() -> impl Strategy<Value = String> {
    proptest::collection::vec(token(), 0..200).prop_map(|v| v.concat())
}

fn url() -> impl Strategy<Value = Option<url::Url>> {
    proptest::sample::select(
        &[
            "",
            "https://www.bbc.com/news/articles/x",
            "https://www.theguardian.com/world/2024/feb/23/x",
            "https://example.org/a/b",
        ][..],
    )
    .prop_map(|u| url::Url::parse(u).ok())
}

fn check_format(text: &str) -> Result<(), TestCaseError> {
    prop_assert!(!text.contains("\n\n\n"), "blank-line run in {text:?}");
    prop_assert_eq!(text, text.trim(), "untrimmed text");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..4096),
        ct in proptest::option::of(proptest::sample::select(&[
            "text/html", "text/html; charset=utf-8", "text/html; charset=shift_jis",
            "text/html; charset=bogus", "application/octet-stream",
        ][..])),
        url in url(),
    ) {
        let html = decode_html(&bytes, ct);
        let e = extract(&html, url.as_ref());
        check_format(&e.text)?;
    }

    #[test]
    fn tag_soup_never_panics_and_text_is_tidy(html in soup(), url in url()) {
        let e = extract(&html, url.as_ref());
        check_format(&e.text)?;
        if let Some(t) = &e.title {
            prop_assert_eq!(t.as_str(), t.trim());
        }
    }

    #[test]
    fn tag_soup_as_bytes_never_panics(html in soup(), cut in any::<usize>()) {
        // Cut the soup at an arbitrary byte (possibly inside a UTF-8 char).
        let b = html.as_bytes();
        let cut = if b.is_empty() { 0 } else { cut % b.len() };
        let e = extract(&decode_html(&b[..cut], None), None);
        check_format(&e.text)?;
    }
}
