//! Pruning passes: boilerplate elements removed from the DOM before
//! extraction, and boilerplate paragraphs removed from the text after.

use super::match_key::match_key as key;
use dom_query::{Document, NodeRef, TreeNode};

/// Elements that are never main text.
const JUNK_TAGS: &[&str] = &[
    "script",
    "style",
    "noscript",
    "template",
    "iframe",
    "svg",
    "button",
    "select",
    "textarea",
    "figcaption",
];
/// Substrings of `class` that mark boilerplate, in any case (templates
/// write `promo`, `Promo` and `InlineDonationPromo`).
const JUNK_CLASS: &[&str] = &[
    "newsletter",
    "cookie",
    "consent",
    "share-bar",
    "social-share",
    "sharebar",
    "related-",
    "-related",
    "promo",
    "advert",
    "byline",
    "read-more",
    "readmore",
    "author-bio",
    "authorbio",
    "author-profile",
    "authorprofile",
    "about-author",
    // Embedded social posts (the embed scripts' own class names): quoted
    // from elsewhere, not the story's paragraphs.
    "twitter-tweet",
    "instagram-media",
    "tiktok-embed",
];
/// Class tokens of CSS frameworks that hide an element (`display: none`).
const HIDDEN_CLASS_TOKENS: &[&str] = &["hidden", "d-none", "is-hidden"];
/// Substrings of `id` that mark boilerplate.
const JUNK_ID: &[&str] = &["newsletter", "cookie"];
/// Substrings of `data-component` that mark boilerplate.
const JUNK_COMPONENT: &[&str] = &["related", "links-block", "byline", "timestamp", "promo"];

/// Whether a class or id token names a reader-comment thread or one of its
/// parts, as blog and CMS templates name them (`comments`, `comment-list`,
/// `commentlist`, `comments-body`, `comment-123`): readers' comments are not
/// the article, and a thread can be many times its length. "commentary" and
/// "commentator" name opinion articles and their authors, not comments.
fn is_comment_token(token: &str) -> bool {
    let Some(prefix) = token.get(..7) else {
        return false;
    };
    // "comments-enabled", "comment_open": a state of the page, not a part.
    let state = token[7..]
        .trim_start_matches(['s', 'S'])
        .strip_prefix(['-', '_'])
        .is_some_and(|s| COMMENT_STATES.iter().any(|w| s.eq_ignore_ascii_case(w)));
    prefix.eq_ignore_ascii_case("comment")
        && !state
        && !token.get(7..10).is_some_and(|rest| {
            rest.eq_ignore_ascii_case("ary") || rest.eq_ignore_ascii_case("ato")
        })
}

/// Suffixes of a comment class that describe the page rather than name a
/// part of a thread.
const COMMENT_STATES: &[&str] = &[
    "enabled", "disabled", "open", "closed", "on", "off", "allowed",
];

/// Whether an element is boilerplate: the same test as the CSS selector list
/// `script, style, …, [hidden], [aria-hidden=true], [class*=newsletter], …`,
/// done in one look at the element (no selector engine, no allocation).
fn is_junk(node: &TreeNode) -> Junk {
    let Some(el) = node.as_element() else {
        return Junk::No;
    };
    let name: &str = &el.name.local;
    if matches!(name, "html" | "body" | "main" | "article") {
        // Never remove the page's root containers.
        return Junk::No;
    }
    if JUNK_TAGS.contains(&name) {
        return Junk::Yes;
    }
    let named_junk = el.attrs.iter().any(|a| {
        let v: &str = &a.value;
        match &*a.name.local {
            "hidden" => true,
            "aria-hidden" => v == "true",
            "class" => {
                // Lower-cased only when it has capitals (rare), so the
                // common case keeps the fast substring search.
                let lowered;
                let lower = if v.bytes().any(|b| b.is_ascii_uppercase()) {
                    lowered = v.to_ascii_lowercase();
                    lowered.as_str()
                } else {
                    v
                };
                JUNK_CLASS.iter().any(|j| lower.contains(j))
                    || (v
                        .split_ascii_whitespace()
                        .any(|t| HIDDEN_CLASS_TOKENS.contains(&t))
                        // "hidden md:block": shown on wider screens.
                        && !v.contains(':'))
            }
            "id" => JUNK_ID.iter().any(|j| v.contains(j)),
            "data-component" => JUNK_COMPONENT.iter().any(|j| v.contains(j)),
            _ => false,
        }
    });
    if named_junk {
        return Junk::Yes;
    }
    let comments = el.attrs.iter().any(|a| match &*a.name.local {
        "class" => a.value.split_ascii_whitespace().any(is_comment_token),
        "id" => is_comment_token(&a.value),
        _ => false,
    });
    if comments {
        Junk::UnlessArticle
    } else {
        Junk::No
    }
}

/// What [`is_junk`] makes of an element.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Junk {
    No,
    Yes,
    /// Named as a comment thread: junk unless it holds the article.
    UnlessArticle,
}

/// Whether an element holds the headline or the article: then a
/// comment-named class on it is a state of the page ("comments-enabled"
/// on the article's wrapper), not a thread.
fn holds_article(node: &NodeRef) -> bool {
    node.descendants_it().any(|d| {
        d.node_name()
            .is_some_and(|n| matches!(&*n, "h1" | "article"))
            || d.attr("itemprop")
                .is_some_and(|v| v.contains("articleBody"))
    })
}

/// Remove obvious boilerplate elements from the document (in place), in one
/// walk of the tree that does not descend into removed subtrees.
pub fn prune_dom(doc: &Document) {
    prune_subtree(&doc.root());
}

/// [`prune_dom`] for the subtree under `root` (the root itself is kept).
pub fn prune_subtree(root: &NodeRef) {
    let mut junk = Vec::new();
    let mut stack = vec![*root];
    while let Some(node) = stack.pop() {
        for c in node.children_it(false) {
            match c.query_or(None, |n| n.as_element().map(|_| is_junk(n))) {
                Some(Junk::Yes) => junk.push(c),
                Some(Junk::UnlessArticle) if !holds_article(&c) => junk.push(c),
                Some(_) => stack.push(c),
                None => {}
            }
        }
    }
    for n in junk {
        n.remove_from_parent();
    }
}

const JUNK_PREFIXES: &[&str] = &[
    "read more:",
    "read more about",
    "more on this story",
    "related:",
    "related articles",
    "related stories",
    "sign up for",
    "sign up to",
    "subscribe to our",
    "advertisement",
    "share this article",
    "share on ",
    "follow us on",
    "click here to",
    "image source,",
    "image caption,",
    "media caption,",
    "getty images",
    "dark mode",
    "light mode",
    "listen to this article",
    "this article is more than",
    "most read",
    "recommended reading",
    "we use cookies",
    "accept cookies",
    "cookie settings",
    "skip advertisement",
    "watch:",
    "download the app",
    "get our newsletter",
    "join our newsletter",
];

const JUNK_EXACT: &[&str] = &[
    "advertisement",
    "ad",
    "share",
    "comments",
    "read more",
    "related",
    "continue reading",
    "story continues below",
    "story continues below advertisement",
    "dark mode",
    "toggle dark mode",
    "image",
    "video",
    "copy link",
    "link copied",
    "print",
    "email",
    "facebook",
    "twitter",
    "whatsapp",
];

/// A re-publisher's attribution line ("Source: BBC", "Via: Reuters"): a
/// short label, a colon and a name of a few words.
fn is_attribution(l: &str) -> bool {
    let Some((label, name)) = l.split_once(':') else {
        return false;
    };
    matches!(
        label.trim(),
        "source" | "sources" | "via" | "credit" | "courtesy"
    ) && !name.trim().is_empty()
        && name.split_whitespace().count() <= 4
        && !name.contains(['.', '!', '?'])
}

/// A photo caption by its closing credit, "… on the red carpet (Image:
/// Getty)", "(Picture: PA)": captions are not the article's text.
fn is_credited_caption(l: &str) -> bool {
    let Some(open) = l
        .strip_suffix(')')
        .and_then(|l| l.rfind('(').map(|i| &l[i + 1..]))
    else {
        return false;
    };
    let Some((label, name)) = open.split_once(':') else {
        return false;
    };
    l.len() < MAX_CAPTION_CHARS
        && open.len() <= MAX_CREDIT_CHARS
        && !name.trim().is_empty()
        && CREDIT_LABELS.contains(&label.trim())
}

/// Labels of a photo credit, lower-cased.
const CREDIT_LABELS: &[&str] = &[
    "image",
    "images",
    "photo",
    "photos",
    "picture",
    "pictures",
    "pic",
    "credit",
    "photograph",
];
const MAX_CREDIT_CHARS: usize = 48;
const MAX_CAPTION_CHARS: usize = 400;

fn is_junk_paragraph(p: &str) -> bool {
    let l = p.trim().to_lowercase();
    if is_attribution(&l) || is_credited_caption(&l) {
        return true;
    }
    let l = l.trim_end_matches(['.', ':', '!']);
    if JUNK_EXACT.contains(&l) {
        return true;
    }
    JUNK_PREFIXES.iter().any(|j| l.starts_with(j)) && l.len() < 200
}

/// Remove boilerplate paragraphs, a leading headline, and a leading byline.
pub fn prune_text(text: &str, title: Option<&str>, authors: &[String]) -> String {
    let title_key = title.map(key).unwrap_or_default();
    let repeated = repeated_labels(text);
    let mut out: Vec<String> = Vec::new();
    for (i, para) in text.split("\n\n").enumerate() {
        let lines: Vec<&str> = para
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !is_junk_paragraph(l) && !repeated.contains(*l))
            .collect();
        if lines.is_empty() {
            continue;
        }
        let para = lines.join("\n");
        if i < 3 && out.is_empty() && !title_key.is_empty() && key(&para) == title_key {
            continue;
        }
        if out.len() < 3 && is_byline(&para, authors) {
            continue;
        }
        out.push(para);
    }
    super::story_lists::drop_story_lists(out).join("\n\n")
}

/// Short one-line paragraphs that stand alone [`MIN_LABEL_REPEATS`] times
/// or more in a text: labels a template puts between paragraphs ("Article
/// content", "Advertisement" in another language), never the article's own.
fn repeated_labels(text: &str) -> std::collections::HashSet<&str> {
    let mut counts: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for l in text.split("\n\n").map(str::trim) {
        if !l.contains('\n')
            && l.chars().any(char::is_alphabetic)
            && l.chars().count() <= MAX_LABEL_CHARS
        {
            *counts.entry(l).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .filter(|&(_, n)| n >= MIN_LABEL_REPEATS)
        .map(|(l, _)| l)
        .collect()
}

const MAX_LABEL_CHARS: usize = 40;
const MIN_LABEL_REPEATS: usize = 3;

fn is_byline(p: &str, authors: &[String]) -> bool {
    if p.len() > 120 {
        return false;
    }
    let l = p.to_lowercase();
    if l.starts_with("by ") && p.split_whitespace().count() <= 12 {
        return true;
    }
    let k = key(p);
    !k.is_empty() && authors.iter().any(|a| key(a) == k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_boilerplate_elements() {
        let doc = Document::from(
            "<body><article><p>Real text.</p><div class='newsletter-box'>Sign up now</div>\
             <figure><figcaption>Photo: X</figcaption></figure><div class='promo-item'>Promo</div>\
             <div class='box hidden'>Subscribe</div><div class='unhidden'>Kept</div><p class='hidden md:block'>Wide</p>\
             <div class='authorprofile'>Sam writes</div></article></body>",
        );
        prune_dom(&doc);
        let t = doc.select("body").text();
        assert!(t.contains("Real text."));
        assert!(!t.contains("Sign up") && !t.contains("Photo") && !t.contains("Promo"));
        assert!(
            !t.contains("Subscribe")
                && !t.contains("Sam writes")
                && t.contains("Kept")
                && t.contains("Wide")
        );
    }

    #[test]
    fn drops_reader_comment_threads_but_not_commentary() {
        let doc = Document::from(
            "<body><div class='blog'><div class='blogbody'><p>The post.</p></div>\
             <div class='comments-head'>Comments</div><div class='comments-body'><p>First!</p></div>\
             <ol class='commentlist'><li class='comment even' id='comment-12'>Nice post</li></ol>\
             <section id='comments'>Join the discussion</section>\
             <div class='commentary-body'><p>An opinion piece.</p></div>\
             <div class='Commentator'>Jo, columnist</div></div>\
             <div id='article' class='story comments-enabled'><p>Stays.</p></div>\
             <div class='comment-wrap'><h1>Headline</h1><p>Wrapper of the article.</p></div>\
             <div class='InlineDonationPromo'>Wait! Give us money.</div></body>",
        );
        prune_dom(&doc);
        let t = doc.select("body").text();
        assert!(
            t.contains("The post.")
                && t.contains("An opinion piece.")
                && t.contains("Jo, columnist")
        );
        assert!(t.contains("Stays.") && t.contains("Wrapper of the article."));
        for gone in [
            "Comments",
            "First!",
            "Nice post",
            "Join the discussion",
            "Wait!",
        ] {
            assert!(!t.contains(gone), "{gone} in {t}");
        }
    }

    #[test]
    fn drops_captions_by_their_credit() {
        let t = "First para.\n\nThe couple on the red carpet (Image: Getty)\n\n\
                 Fans queued overnight (Picture: PA Wire)\n\nThe vote (held in May) was close.";
        assert_eq!(
            prune_text(t, None, &[]),
            "First para.\n\nThe vote (held in May) was close."
        );
    }

    #[test]
    fn drops_boilerplate_paragraphs() {
        let t = "Big Headline\n\nBy Jane Doe\n\nFirst para.\n\nRead more: other story\n\nAdvertisement\n\nLast para.";
        assert_eq!(
            prune_text(t, Some("Big headline"), &["Jane Doe".into()]),
            "First para.\n\nLast para."
        );
    }

    #[test]
    fn drops_labels_repeated_between_paragraphs() {
        let t = "Werbung\n\nFirst paragraph.\n\nWerbung\n\nSecond paragraph.\n\nWerbung\n\nYes.\n\nYes.";
        assert_eq!(
            prune_text(t, None, &[]),
            "First paragraph.\n\nSecond paragraph.\n\nYes.\n\nYes."
        );
    }

    #[test]
    fn cuts_an_author_box_at_the_end() {
        let body = "A paragraph of the article that goes on for a while.";
        let t = format!("{body}\n\n{body}\n\nAbout the author\n\nSam writes about roads.");
        assert_eq!(prune_text(&t, None, &[]), format!("{body}\n\n{body}"));
        // Not in the first half: an article about "more from" the archive.
        let t = format!("More from\n\n{body}\n\n{body}");
        assert_eq!(prune_text(&t, None, &[]), t);
    }

    #[test]
    fn drops_attribution_lines() {
        let t = "First.\n\nSource: BBC\n\nSecond.\n\nVia: The Town Paper\n\nSource: the council said it would act.";
        assert_eq!(
            prune_text(t, None, &[]),
            "First.\n\nSecond.\n\nSource: the council said it would act."
        );
    }

    #[test]
    fn keeps_list_lines() {
        assert_eq!(prune_text("a\nShare\nb", None, &[]), "a\nb");
    }
}
