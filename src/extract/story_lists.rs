//! Lists of other stories inside or after an article's text ("Recommended
//! from Editorial", "More articles in Soccer", "Trending", an author box):
//! the last step of text pruning ([`super::prune::prune_text`]).

use super::comment_thread::{
    MIN_PROSE_BEFORE_COMMENTS, drop_first_comment, is_signature, starts_comments,
};

/// Headings after which the rest of a text is never the article's (an
/// author box, a list of other stories), when they come in its second half.
const TAIL_HEADINGS: &[&str] = &[
    "about the author",
    "about the authors",
    "recommended for you",
    "recommended stories",
    "you may also like",
    "you might also like",
    "more from",
    "read next",
    "trending now",
    "most popular",
    "popular stories",
    "related stories",
    "related articles",
    "more stories",
    "more on this story",
    "related content",
    "related links",
    "related news",
    "reader comments",
    "your comments",
    "user comments",
    "readers' comments",
    "featured jobs",
    "sponsored links",
    "email alerts",
    "more news headlines",
    "popular news stories",
    "additional stories",
    "comments",
    "comments »",
    "post a comment",
    "leave a comment",
    "add a comment",
    "add your comment",
    "tell us what you think",
    "no comments yet",
    "no comments at the moment",
    "be the first to comment",
];

/// Openings of the headings of lists of other stories ("Recommended from
/// Editorial", "More articles in Soccer", "Trending", "Also in UK News").
const LIST_HEADINGS: &[&str] = &[
    "recommended",
    "you may also like",
    "you might also like",
    "more from",
    "more in ",
    "more articles",
    "more stories",
    "more news",
    "more on this story",
    "also in ",
    "read next",
    "what to read next",
    "trending",
    "most popular",
    "most read",
    "popular stories",
    "related",
    "popular ",
    "latest ",
    "most viewed",
    "most shared",
    "most emailed",
    "more headlines",
    "other news",
    "top stories",
    "don't miss",
    "don’t miss",
    "editor's picks",
    "editor’s picks",
];

/// Longest paragraph taken for a heading.
const HEADING_CHARS: usize = 48;
/// Most words of a title ending in "news", "headlines"… that names a list.
const MAX_LIST_TITLE_WORDS: usize = 5;
/// Most words of a line that may still be a teaser's headline.
const MAX_TEASER_WORDS: usize = 14;
/// Fewest words of a paragraph that carries the article on.
const MIN_PROSE_WORDS: usize = 10;

/// A short one-line paragraph, lower-cased, without closing punctuation.
/// A heading spaced out letter by letter ("R E L A T E D C O N T E N T",
/// typography done with spaces) is kept as its letters alone, `squeezed`.
pub(super) struct Heading {
    key: String,
    squeezed: bool,
}

impl Heading {
    pub(super) fn of(p: &str) -> Option<Heading> {
        if p.len() >= HEADING_CHARS || p.contains('\n') {
            return None;
        }
        let l = p.trim().to_lowercase();
        let l = l.trim_end_matches(['.', ':', '!', ' ', '…']);
        let squeezed = l.split_whitespace().count() >= 4
            && l.split_whitespace().all(|t| t.chars().count() == 1);
        let key = if squeezed {
            l.split_whitespace().collect()
        } else {
            l.to_string()
        };
        Some(Heading { key, squeezed })
    }

    fn same(&self, name: &str) -> bool {
        if self.squeezed {
            self.key == name.replace(' ', "")
        } else {
            self.key == name
        }
    }

    /// A short title that ends by naming what it lists: "Breaking Forex
    /// News", "EnterpriseStorageForum Headlines", "Top stories".
    fn names_stories(&self) -> bool {
        let words: Vec<&str> = self.key.split_whitespace().collect();
        words.len() <= MAX_LIST_TITLE_WORDS
            && words
                .last()
                .is_some_and(|w| matches!(*w, "news" | "headlines" | "stories" | "articles"))
    }

    fn opens_with(&self, name: &str) -> bool {
        if self.squeezed {
            self.key.starts_with(&name.replace(' ', ""))
        } else {
            self.key.starts_with(name)
        }
    }
}

/// Most tabs in a strip of box titles.
const MAX_TABS: usize = 6;

/// A strip of tabs over the page's boxes ("More News Headlines" / "Popular
/// News Stories" as one list): a few heading-like lines, one of them a
/// [`TAIL_HEADINGS`] title.
fn is_tail_tabs(p: &str) -> bool {
    if !(2..=MAX_TABS).contains(&p.lines().count()) {
        return false;
    }
    let tabs: Option<Vec<Heading>> = p.lines().map(Heading::of).collect();
    tabs.is_some_and(|tabs| tabs.iter().any(|h| TAIL_HEADINGS.iter().any(|t| h.same(t))))
}

/// A paragraph of teasers: every line short and not ending a sentence.
fn is_teasers(p: &str) -> bool {
    p.lines().all(|l| {
        l.split_whitespace().count() <= MAX_TEASER_WORDS
            && !l.trim_end().ends_with(['.', '!', '?', '"', '”', ';'])
    })
}

/// A paragraph that carries the article on: sentences, not headlines.
pub(super) fn is_prose(p: &str) -> bool {
    p.split_whitespace().count() >= MIN_PROSE_WORDS && ends_sentence(p)
}

pub(super) fn ends_sentence(p: &str) -> bool {
    p.trim_end().ends_with(['.', '!', '?', '"', '”', '’', ')'])
}

/// The length of the prose in `paras`, without teaser cards: a lone
/// sentence between two headings is a story's blurb under its headline.
fn prose_len(paras: &[String]) -> usize {
    let heading = |j: Option<&String>| j.is_some_and(|q| Heading::of(q).is_some());
    (0..paras.len())
        .filter(|&j| {
            is_prose(&paras[j])
                && !(j > 0
                    && heading(paras.get(j - 1))
                    && (j + 1 == paras.len() || heading(paras.get(j + 1)))
                    && is_one_sentence(&paras[j]))
        })
        .map(|j| paras[j].len())
        .sum()
}

/// A paragraph of one sentence: no sentence ends before its last.
fn is_one_sentence(p: &str) -> bool {
    !p.trim_end()
        .trim_end_matches(['.', '!', '?', '"', '”', '’', ')'])
        .contains(['.', '!', '?'])
}

/// Fewest items of a site menu.
const MIN_MENU_ITEMS: usize = 4;
/// Most words of a menu item ("Sci. & Tech.", "Other States").
const MAX_MENU_ITEM_WORDS: usize = 3;

/// A site's menu: a list of one- to three-word items.
fn is_menu(p: &str) -> bool {
    p.lines().count() >= MIN_MENU_ITEMS
        && p.lines()
            .all(|l| l.split_whitespace().count() <= MAX_MENU_ITEM_WORDS && !is_prose(l))
}

/// Whether less than half of `paras` is prose.
fn mostly_boxes(paras: &[String]) -> bool {
    let all: usize = paras.iter().map(String::len).sum();
    prose_len(paras) * 2 < all
}

/// The paragraphs without lists of other stories: a [`LIST_HEADINGS`]
/// heading and the teasers under it are dropped when the article goes on
/// after them, and end the text when nothing article-like follows; a
/// [`TAIL_HEADINGS`] heading in the second half ends the text.
pub(super) fn drop_story_lists(paras: Vec<String>) -> Vec<String> {
    let total: usize = paras.iter().map(String::len).sum();
    let mut out: Vec<String> = Vec::with_capacity(paras.len());
    let mut seen = 0usize;
    let mut prose_seen = 0usize;
    // Menus before the text's first sentence are the page's, not the story's.
    let lead = paras.iter().take_while(|q| !ends_sentence(q)).count();
    let lead = if lead < paras.len() { lead } else { 0 };
    let mut i = 0;
    while i < paras.len() {
        let p = &paras[i];
        if i < lead && is_menu(p) {
            i += 1;
            continue;
        }
        if i > 0
            && (seen * 2 >= total || prose_seen >= MIN_PROSE_BEFORE_COMMENTS)
            && starts_comments(&paras[i..])
        {
            if is_signature(p) {
                drop_first_comment(&mut out, p);
            }
            break;
        }
        // Tabs over boxes: in the text's second half, or where what follows
        // is mostly not prose (the boxes' lists make a text look longer).
        if i > 0 && is_tail_tabs(p) && (seen * 2 >= total || mostly_boxes(&paras[i + 1..])) {
            break;
        }
        if let Some(h) = Heading::of(p).filter(|_| i > 0) {
            if seen * 2 >= total && TAIL_HEADINGS.iter().any(|t| h.same(t)) {
                break;
            }
            if LIST_HEADINGS.iter().any(|l| h.opens_with(l)) || h.names_stories() {
                let run = paras[i + 1..].iter().take_while(|q| is_teasers(q)).count();
                let after = i + 1 + run;
                // A list straight after a list: the page's tail of boxes.
                let chained = run > 0
                    && paras
                        .get(after)
                        .and_then(|q| Heading::of(q))
                        .is_some_and(|h| {
                            LIST_HEADINGS.iter().any(|l| h.opens_with(l))
                                || TAIL_HEADINGS.iter().any(|t| h.same(t))
                        });
                if chained {
                    break;
                }
                let rest = &paras[after..];
                // Nothing article-like after the list; or, in the text's
                // second half, mostly more lists and boxes (section after
                // section of other stories, each with a line of blurb).
                if prose_len(rest) == 0 || (seen * 2 >= total && mostly_boxes(rest)) {
                    break;
                }
                if run > 0 {
                    seen += paras[i..after].iter().map(String::len).sum::<usize>();
                    i = after;
                    continue;
                }
            }
        }
        seen += p.len();
        if is_prose(p) {
            prose_seen += p.len();
        }
        out.push(p.clone());
        i += 1;
    }
    out
}

#[cfg(test)]
pub(super) mod tests {
    #[test]
    fn a_list_of_teasers_under_a_heading_ends_the_text() {
        let story = "Chelsea are hoping to complete the signing in time for the weekend.";
        let t = format!(
            "{story}\n\nMore articles in Soccer\n\nFAI unveils qualification schedule\n\
             Steinsson on verge of move\nHoullier linked with Newcastle job\n\n\
             Don't Miss . . .\n\nVideo: Waxing Lyrical"
        );
        assert_eq!(pruned(&t), story);
        // A heading early in an article, followed by the article going on.
        let body = "The minister said the plan would go ahead, whatever the cost, and that \
                    talks with the unions would resume next week.";
        let t = format!("{story}\n\nMore from the interview\n\n{body}\n\n{body}\n\n{body}");
        assert_eq!(pruned(&t), t);
        // A list inside the article: dropped, and the article goes on.
        let t = format!("{story}\n\nTrending\n\nOne headline\nAnother headline\n\n{body}");
        assert_eq!(pruned(&t), format!("{story}\n\n{body}"));
    }

    /// The text as the extractor's last pass leaves it, with no title or
    /// author to drop.
    pub(in crate::extract) fn pruned(t: &str) -> String {
        super::super::prune::prune_text(t, None, &[], &[])
    }

    pub(in crate::extract) fn article(paragraphs: usize) -> String {
        let p = "The minister said the plan would go ahead, whatever the cost, and that \
                 talks with the unions would resume next week.";
        vec![p; paragraphs].join("\n\n")
    }

    #[test]
    fn a_heading_spaced_out_letter_by_letter_is_read_as_its_words() {
        let body = article(4);
        let t = format!("{body}\n\nR E L A T E D C O N T E N T\n\nCommission opens two cases");
        assert_eq!(pruned(&t), body);
        // Initials are not a spaced-out heading.
        assert!(super::Heading::of("A B C").is_some_and(|h| !h.squeezed));
    }

    #[test]
    fn a_list_followed_by_another_list_ends_the_text() {
        let body = article(2);
        let blurb =
            "Beyond retail: his wholesale business has fed sales through lean retail times.";
        let t = format!(
            "{body}\n\nRelated News\n\nLenexa company hopes to bring drug to market\n\n\
             More News Headlines\n\n{blurb}\n\n{blurb}"
        );
        assert_eq!(pruned(&t), body);
    }

    #[test]
    fn a_strip_of_tabs_titled_like_the_tail_ends_the_text() {
        let body = article(4);
        let t = format!(
            "{body}\n\nMore News Headlines\nPopular News Stories\n\nToday's Video Brief\n\n\
             Starting a Business"
        );
        assert_eq!(pruned(&t), body);
        // Lines of the article's own list stay.
        let t = format!("{body}\n\nThe plan:\nLower fares\nMore buses\n\n{body}");
        assert_eq!(pruned(&t), t);
    }

    #[test]
    fn a_title_naming_news_or_headlines_heads_a_list() {
        let body = article(4);
        let t = format!(
            "{body}\n\nBreaking Forex News\n\nFrench growth seen at 0.4 pct\n\
             Thomson Financial News | Wed, Jan 16 2008\nDutch minister expects surplus"
        );
        assert_eq!(pruned(&t), body);
        let t = format!("{body}\n\nYour Comments\n\nPretty cool. Nice choice of words.");
        assert_eq!(pruned(&t), body);
        // A longer heading that ends in "news" is the article's own.
        let t = format!("{body}\n\nWhy the vote was good for local news\n\nIt was.\n\n{body}");
        assert_eq!(pruned(&t), t);
    }

    #[test]
    fn a_menu_before_the_first_sentence_is_dropped() {
        let body = article(3);
        let menu = "Top Stories\nNational\nSci. & Tech.\nOther States";
        let t = format!("{menu}\n\nTributes paid to a climber\n\n{body}");
        assert_eq!(pruned(&t), format!("Tributes paid to a climber\n\n{body}"));
        // After a sentence, a list of short items is the text's own.
        let t = format!("It is written by one person.\n\n{menu}\n\n{body}");
        assert_eq!(pruned(&t), t);
    }

    #[test]
    fn headlines_with_a_line_of_blurb_each_are_not_prose() {
        let body = article(4);
        let card = "Middlesbrough's winger said he would be interested in a move to London.";
        let t = format!(
            "{body}\n\nLatest Sport News\n\nSpurs interest Downing\n\n{card}\n\n\
             Reds backing manager\n\n{card}"
        );
        assert_eq!(pruned(&t), body);
    }

    #[test]
    fn late_in_a_text_lists_among_blurbs_end_it_and_comment_boxes_too() {
        let body = article(6);
        let blurb = "Learn how to test the performance of web applications in this paper.";
        let t = format!(
            "{body}\n\nMost popular\n\nOne headline\n\nBusiness Resources\n\nStarting a Business\n\n\
             Sales & Marketing\n\nHR & Careers\n\n{blurb}"
        );
        assert_eq!(pruned(&t), body);
        let t = format!("{body}\n\nComments »\n\nThe comments above are from readers.");
        assert_eq!(pruned(&t), body);
        // Early in a text the same heading is the article's own.
        let t = format!("{}\n\nReader comments\n\n{body}", article(1));
        assert_eq!(pruned(&t), t);
    }
}
