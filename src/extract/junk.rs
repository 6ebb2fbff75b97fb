//! Boilerplate elements, removed from the DOM before extraction: known
//! by their tag (scripts, captions), by what their class or id names
//! (newsletter boxes, related stories, comment threads) and by being hidden.

use dom_query::{Document, NodeRef, TreeNode};

use super::stopwords::is_stop_word;

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
    // "similarLinks", "similar-posts": related stories by another name.
    "similar",
    // A video's placeholder card (thumbnail, title, duration, blurb).
    "video-card",
    "player-placeholder",
    // video.js's message for browsers without JavaScript ("To view this
    // video please enable JavaScript…").
    "vjs-no-js",
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

/// Whether an id names a box of related stories: "related", in any case, at
/// the start of a word of it, whatever joins the words (`related_articles`,
/// `story-related`, `relatedBox`, `related`), not inside another word
/// ("unrelated", "storyRelated"). Classes are matched more narrowly
/// (`related-`, `-related`, a `related` token): widget classes such as
/// Taboola's `trc_related_container` sit beside the story, and Readability,
/// missing them, took in the chrome around them. Compared byte by byte, no
/// lower-cased copy: this runs for every element of the page.
fn names_related(id: &str) -> bool {
    const WORD: &[u8] = b"related";
    let b = id.as_bytes();
    b.windows(WORD.len())
        .enumerate()
        .any(|(i, w)| w.eq_ignore_ascii_case(WORD) && (i == 0 || !b[i - 1].is_ascii_alphabetic()))
}

/// Fewest words of an id made from a text.
const MIN_SLUG_WORDS: usize = 6;
/// Fewest stop words ("in", "a", "the") among them.
const MIN_SLUG_STOP_WORDS: usize = 2;

/// Whether an id is made from the words it anchors, as CMSs make a slide's
/// or a heading's id from its title (`zendaya-promoted-dune-part-two-in-
/// london-while-wearing-a-plum-colored-suit-1`): it says nothing of the
/// element's role, yet its words ("promoted", "related", "comments")
/// read as boilerplate to Readability's class weights and to the rules
/// here. Template ids (`adb-header-subnav-4_1_7`, `taboola-right-rail-
/// thumbnails`) have no stop words.
fn is_text_slug(id: &str) -> bool {
    let mut words = 0;
    let mut stops = 0;
    for w in id.split('-') {
        if w.is_empty()
            || !w
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return false;
        }
        words += 1;
        stops += usize::from(is_stop_word(w));
    }
    words >= MIN_SLUG_WORDS && stops >= MIN_SLUG_STOP_WORDS
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
                    || v.split_ascii_whitespace()
                        .any(|t| t.eq_ignore_ascii_case("related"))
                    || (v
                        .split_ascii_whitespace()
                        .any(|t| HIDDEN_CLASS_TOKENS.contains(&t))
                        // "hidden md:block": shown on wider screens.
                        && !v.contains(':'))
            }
            "id" => (JUNK_ID.iter().any(|j| v.contains(j)) || names_related(v)) && !is_text_slug(v),
            "data-component" => JUNK_COMPONENT.iter().any(|j| v.contains(j)),
            _ => false,
        }
    });
    if named_junk {
        return Junk::Yes;
    }
    let comments = el.attrs.iter().any(|a| match &*a.name.local {
        "class" => a.value.split_ascii_whitespace().any(is_comment_token),
        "id" => is_comment_token(&a.value) && !is_text_slug(&a.value),
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
/// walk of the tree that does not descend into removed subtrees; ids made
/// from a text ([`is_text_slug`]) go too, before Readability weighs them.
pub fn prune_dom(doc: &Document) {
    prune_subtree(&doc.root());
}

/// [`prune_dom`] for the subtree under `root` (the root itself is kept).
pub fn prune_subtree(root: &NodeRef) {
    let mut junk = Vec::new();
    let mut slugs = Vec::new();
    let mut stack = vec![*root];
    while let Some(node) = stack.pop() {
        for c in node.children_it(false) {
            match c.query_or(None, |n| n.as_element().map(|_| is_junk(n))) {
                Some(Junk::Yes) => junk.push(c),
                Some(Junk::UnlessArticle) if !holds_article(&c) => junk.push(c),
                Some(_) => {
                    if c.attr("id").is_some_and(|id| is_text_slug(&id)) {
                        slugs.push(c);
                    }
                    stack.push(c);
                }
                None => {}
            }
        }
    }
    for n in junk {
        n.remove_from_parent();
    }
    for n in slugs {
        n.remove_attr("id");
    }
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
    fn ids_made_from_a_text_name_no_role_and_go() {
        assert!(is_text_slug(
            "zendaya-promoted-dune-part-two-in-london-while-wearing-a-plum-colored-suit-1"
        ));
        for template in [
            "adb-header-subnav-4_1_7",
            "taboola-right-rail-thumbnails-multi-story-layout",
            "related",
            "comments",
        ] {
            assert!(!is_text_slug(template), "{template}");
        }
        let doc = Document::from(
            "<body><div id='comments-from-readers-show-the-city-is-split-on-the-plan'>\
             <p>Kept.</p></div><div id='related-stories'>Gone</div></body>",
        );
        prune_dom(&doc);
        assert_eq!(doc.select("body").text().as_ref(), "Kept.");
        assert_eq!(doc.select("[id]").length(), 0);
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
    fn similar_links_and_video_cards_are_junk() {
        let doc = Document::from(
            "<body><p>Story.</p><ul class='similarLinks'><li>Who is he?</li></ul>\
             <div class='video-item video-card-overlay'>Talks stalled</div>\
             <p class='vjs-no-js'>To view this video please enable JavaScript</p></body>",
        );
        prune_dom(&doc);
        assert_eq!(doc.select("body").text().trim(), "Story.");
    }

    #[test]
    fn an_id_naming_related_stories_is_junk_in_any_spelling() {
        for id in ["related_articles", "story-related", "relatedBox", "related"] {
            let doc = Document::from(format!(
                "<body><p>Story.</p><div id='{id}'><h3>Related News</h3></div></body>"
            ));
            prune_dom(&doc);
            assert!(!doc.select("body").text().contains("Related"), "{id}");
        }
        let doc = Document::from("<body><div id='unrelated-facts'><p>Story.</p></div></body>");
        prune_dom(&doc);
        assert!(doc.select("body").text().contains("Story."));
    }
}
