//! Lists of other stories inside or after an article's text ("Recommended
//! from Editorial", "More articles in Soccer", "Trending", an author box):
//! the last step of text pruning ([`super::prune::prune_text`]).

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
    "latest news",
    "latest headlines",
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
/// Most words of a line that may still be a teaser's headline.
const MAX_TEASER_WORDS: usize = 14;
/// Fewest words of a paragraph that carries the article on.
const MIN_PROSE_WORDS: usize = 10;

/// A short one-line paragraph, lower-cased, without closing punctuation.
fn heading_key(p: &str) -> Option<String> {
    if p.len() >= HEADING_CHARS || p.contains('\n') {
        return None;
    }
    let l = p.trim().to_lowercase();
    Some(l.trim_end_matches(['.', ':', '!', ' ', '…']).to_string())
}

/// A paragraph of teasers: every line short and not ending a sentence.
fn is_teasers(p: &str) -> bool {
    p.lines().all(|l| {
        l.split_whitespace().count() <= MAX_TEASER_WORDS
            && !l.trim_end().ends_with(['.', '!', '?', '"', '”', ';'])
    })
}

/// A paragraph that carries the article on: sentences, not headlines.
fn is_prose(p: &str) -> bool {
    p.split_whitespace().count() >= MIN_PROSE_WORDS
        && p.trim_end().ends_with(['.', '!', '?', '"', '”', '’', ')'])
}

/// The paragraphs without lists of other stories: a [`LIST_HEADINGS`]
/// heading and the teasers under it are dropped when the article goes on
/// after them, and end the text when nothing article-like follows; a
/// [`TAIL_HEADINGS`] heading in the second half ends the text.
pub(super) fn drop_story_lists(paras: Vec<String>) -> Vec<String> {
    let total: usize = paras.iter().map(String::len).sum();
    let mut out: Vec<String> = Vec::with_capacity(paras.len());
    let mut seen = 0usize;
    let mut i = 0;
    while i < paras.len() {
        let p = &paras[i];
        if let Some(h) = heading_key(p).filter(|_| i > 0) {
            if seen * 2 >= total && TAIL_HEADINGS.contains(&h.as_str()) {
                break;
            }
            if LIST_HEADINGS.iter().any(|l| h.starts_with(l)) {
                let run = paras[i + 1..].iter().take_while(|q| is_teasers(q)).count();
                let after = i + 1 + run;
                if !paras[after..].iter().any(|q| is_prose(q)) {
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
        out.push(p.clone());
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_list_of_teasers_under_a_heading_ends_the_text() {
        let story = "Chelsea are hoping to complete the signing in time for the weekend.";
        let t = format!(
            "{story}\n\nMore articles in Soccer\n\nFAI unveils qualification schedule\n\
             Steinsson on verge of move\nHoullier linked with Newcastle job\n\n\
             Don't Miss . . .\n\nVideo: Waxing Lyrical"
        );
        assert_eq!(super::super::prune::prune_text(&t, None, &[]), story);
        // A heading early in an article, followed by the article going on.
        let body = "The minister said the plan would go ahead, whatever the cost, and that \
                    talks with the unions would resume next week.";
        let t = format!("{story}\n\nMore from the interview\n\n{body}\n\n{body}\n\n{body}");
        assert_eq!(super::super::prune::prune_text(&t, None, &[]), t);
        // A list inside the article: dropped, and the article goes on.
        let t = format!("{story}\n\nTrending\n\nOne headline\nAnother headline\n\n{body}");
        assert_eq!(
            super::super::prune::prune_text(&t, None, &[]),
            format!("{story}\n\n{body}")
        );
    }
}
