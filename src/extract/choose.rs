//! Self-checks on Readability's text against the block classifier
//! ([`super::blocks`]) and the page's own signals, and the choice between
//! the two methods.
//!
//! - Readability's first and last paragraphs that the classifier finds to be
//!   boilerplate blocks of links (breadcrumbs, "Email / Print" lines) are trimmed.
//! - Readability's text is rejected for the classifier's when it is empty or
//!   a small part of the text the classifier finds (a menu, a tag line, an
//!   author box was picked), or when the page's description opens the
//!   classifier's text but is nowhere in Readability's.

use std::collections::{HashMap, HashSet};

use super::blocks::{Block, Class, good_text, known_language};
use super::match_key::match_key as key;

/// Fewest words the classifier's text needs to be an alternative.
const MIN_BLOCK_WORDS: usize = 40;
/// Readability's text is "a small part" below this share of the classifier's words.
const MIN_SHARE: f64 = 0.3;
/// Readability's text is "near-empty" below this many words.
const NEAR_EMPTY_WORDS: usize = 60;
/// Only boilerplate lines shorter than this are trimmed.
const TRIM_BELOW: usize = 100;
/// Only boilerplate lines with more of their text in links than this are trimmed.
const TRIM_LINK_DENSITY: f64 = 0.5;
/// Most short blocks skipped between two good ones when extending.
const MAX_GAP_BLOCKS: usize = 2;
/// "Short" for [`MAX_GAP_BLOCKS`].
const GAP_CHARS: usize = 40;
/// Link density of a line that is a link and nothing else (link
/// characters are counted without the spaces between words).
const LINK_LINE: f64 = 0.75;
/// Fewest good blocks of the story's other sections (of one class).
const MIN_SECTION_BLOCKS: usize = 2;
/// Share of the page's words a JSON-LD body must have (the page's text may
/// hold comments and teasers, so not all of it).
const MIN_COMPLETE: f64 = 0.6;
/// Words of the description looked for.
const DESCRIPTION_WORDS: usize = 8;

/// Which method gave the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Readability,
    Blocks,
}

/// Size of a text in words, for texts with or without spaces (five
/// letters of a text without spaces count as a word).
fn words(s: &str) -> usize {
    let spaced = s.split_whitespace().count();
    let letters = s.chars().filter(|c| c.is_alphanumeric()).count();
    spaced.max(letters / 5)
}

/// Class, link density and first index of each distinct block text (the
/// best class when a text repeats).
fn classes(blocks: &[Block]) -> HashMap<String, (Class, f64, usize)> {
    let mut m: HashMap<String, (Class, f64, usize)> = HashMap::with_capacity(blocks.len());
    for (i, b) in blocks.iter().enumerate() {
        let k = key(&b.text);
        if k.is_empty() {
            continue;
        }
        m.entry(k)
            .and_modify(|c| {
                if b.class == Class::Good {
                    c.0 = Class::Good;
                }
            })
            .or_insert((b.class, b.link_density(), i));
    }
    m
}

/// Readability's text without the leading and trailing lines that the
/// classifier saw as short or link-heavy boilerplate blocks.
fn trim_edges(text: &str, classes: &HashMap<String, (Class, f64, usize)>) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    let bad = |l: &str| {
        l.chars().count() < TRIM_BELOW
            && classes
                .get(&key(l))
                .is_some_and(|&(c, ld, _)| c == Class::Bad && ld > TRIM_LINK_DENSITY)
    };
    let is_blank = |l: &str| l.trim().is_empty();
    let start = lines
        .iter()
        .position(|l| !is_blank(l) && !bad(l))
        .unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|l| !is_blank(l) && !bad(l))
        .map_or(start, |e| e + 1);
    lines[start..end.max(start)].join("\n")
}

/// Fewest words of a line in capitals read as a shouted link.
const MIN_SHOUTED_WORDS: usize = 4;
/// Fewest letters of it.
const MIN_SHOUTED_LETTERS: usize = 15;

/// Readability's text without the lines that are a link in capitals and
/// nothing else ("WHAT ARE CHINA'S OVERSEAS POLICE STATIONS?" between two
/// paragraphs): a publisher's inline link to another story. On the 773 dev
/// pages no such line is article text; a subheading in capitals is not a
/// link.
fn drop_shouted_links(text: &str, classes: &HashMap<String, (Class, f64, usize)>) -> String {
    let shouted = |l: &str| {
        let mut letters = 0;
        for c in l.chars().filter(|c| c.is_alphabetic()) {
            if c.is_lowercase() {
                return false;
            }
            letters += 1;
        }
        letters >= MIN_SHOUTED_LETTERS
            && l.split_whitespace().count() >= MIN_SHOUTED_WORDS
            && classes
                .get(&key(l))
                .is_some_and(|&(_, ld, _)| ld >= LINK_LINE)
    };
    if !text.lines().any(shouted) {
        return text.to_string();
    }
    text.split("\n\n")
        .filter_map(|p| {
            let kept: Vec<&str> = p.lines().filter(|l| !shouted(l)).collect();
            (!kept.is_empty()).then(|| kept.join("\n"))
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Readability's text with the good blocks that continue it (the other
/// sections of a long article, when Readability took only one): from the
/// last block its lines match, the classifier's good blocks from a heading
/// on, while they follow each other across at most [`MAX_GAP_BLOCKS`] short
/// non-link blocks ("Advertisement", "Article content"); then the
/// [`sibling_sections`] further down.
fn extend(r: &str, blocks: &[Block], classes: &HashMap<String, (Class, f64, usize)>) -> String {
    let hits: Vec<usize> = r
        .lines()
        .filter_map(|l| classes.get(&key(l)).map(|c| c.2))
        .collect();
    let Some(&last) = hits.iter().max() else {
        return r.to_string();
    };
    if hits.len() < 2 {
        return r.to_string();
    }
    let mut after = Vec::new();
    let mut gap = 0usize;
    for (j, b) in blocks.iter().enumerate().skip(last + 1) {
        if b.class == Class::Good && (!after.is_empty() || b.heading) {
            after.push(j);
            gap = 0;
        } else if b.text.chars().count() < GAP_CHARS && b.link_chars == 0 && gap < MAX_GAP_BLOCKS {
            gap += 1;
        } else {
            break;
        }
    }
    let from = after.last().map_or(last, |&j| j) + 1;
    after.extend(sibling_sections(blocks, &hits, from));
    if after.is_empty() {
        return r.to_string();
    }
    let mut out: Vec<&str> = vec![r];
    out.extend(after.iter().map(|&j| blocks[j].text.as_str()));
    out.join("\n\n")
}

/// The blocks from `from` on (by index) in the story's other sections:
/// other containers of the class of those holding Readability's text
/// (`hits`), whatever boxes stand between them (a "Trending" list,
/// advertisements). Readability takes one container and its siblings, not
/// cousins across a page's ad groups. Only the good blocks and the headings
/// straight above one (teaser lines and polls in a box of the same class
/// are not text); the containers that hold Readability's text are not read
/// again (what it left there, it left on purpose).
fn sibling_sections(blocks: &[Block], hits: &[usize], from: usize) -> Vec<usize> {
    let held: HashSet<_> = hits.iter().filter_map(|&i| blocks[i].container).collect();
    let classes: HashSet<u64> = held.iter().map(|c| c.1).collect();
    let other = |b: &Block| {
        b.container
            .filter(|c| classes.contains(&c.1) && !held.contains(c))
    };
    let mut good: HashMap<u64, usize> = HashMap::new();
    for b in &blocks[from..] {
        if let Some(c) = other(b)
            && b.class == Class::Good
        {
            *good.entry(c.1).or_default() += 1;
        }
    }
    // A lone paragraph in a box of the same class is a note or a blurb
    // ("Originally published at…"), not the rest of the story.
    let section = |b: &Block| {
        other(b).is_some_and(|c| good.get(&c.1).is_some_and(|&n| n >= MIN_SECTION_BLOCKS))
    };
    (from..blocks.len())
        .filter(|&j| {
            let b = &blocks[j];
            section(b)
                && (b.class == Class::Good
                    || (b.heading
                        && blocks
                            .get(j + 1)
                            .is_some_and(|n| n.class == Class::Good && n.container == b.container)))
        })
        .collect()
}

/// The opening words of the description, as a key.
fn opening(description: &str) -> String {
    key(&description
        .split_whitespace()
        .take(DESCRIPTION_WORDS)
        .collect::<Vec<_>>()
        .join(" "))
}

/// Whether a text (a JSON-LD articleBody) holds at least [`MIN_COMPLETE`]
/// of the words of the page's text as the classifier sees it.
pub fn complete_enough(text: &str, blocks: &[Block]) -> bool {
    let bw = words(&good_text(blocks));
    bw < MIN_BLOCK_WORDS
        || !known_language(blocks)
        || words(text) as f64 >= MIN_COMPLETE * bw as f64
}

/// Choose between Readability's text (if any) and the classifier's blocks.
pub fn choose(
    readability: Option<String>,
    blocks: &[Block],
    description: Option<&str>,
) -> (String, Choice) {
    let classes = classes(blocks);
    let r = readability
        .map(|t| drop_shouted_links(&trim_edges(&t, &classes), &classes))
        .unwrap_or_default();
    let b = good_text(blocks);
    let (rw, bw) = (words(&r), words(&b));
    if bw < MIN_BLOCK_WORDS || (rw > 0 && !known_language(blocks)) {
        // Without stop words the classifier only knows lengths and links:
        // an alternative to nothing, not to Readability's choice.
        return (r, Choice::Readability);
    }
    if rw < NEAR_EMPTY_WORDS && (rw as f64) < MIN_SHARE * bw as f64 {
        return (b, Choice::Blocks);
    }
    if let Some(d) = description {
        let o = opening(d);
        if o.len() >= 20 && words(d) >= DESCRIPTION_WORDS {
            let (rk, bk) = (key(&r), key(&b));
            if !rk.contains(&o) && bk.contains(&o) && rw < bw {
                return (b, Choice::Blocks);
            }
        }
    }
    (extend(&r, blocks, &classes), Choice::Readability)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(text: &str, class: Class) -> Block {
        Block {
            text: text.to_string(),
            // The boilerplate here is all links.
            link_chars: if class == Class::Bad {
                text.chars().count()
            } else {
                0
            },
            heading: false,
            class,
            container: None,
        }
    }

    const BODY: &str = "The council said on Tuesday that the new road would be built in the spring, \
        and that it was not yet clear how much of the cost would be met by the town itself.";

    fn page() -> Vec<Block> {
        vec![
            block("Home News Sport", Class::Bad),
            block(BODY, Class::Good),
            block(BODY, Class::Good),
            block("Filed under roads, council", Class::Bad),
        ]
    }

    #[test]
    fn readability_kept_and_trimmed_at_the_edges() {
        let r = format!("Home News Sport\n\n{BODY}\n\n{BODY}\n\nFiled under roads, council");
        let (t, c) = choose(Some(r), &page(), None);
        assert_eq!(c, Choice::Readability);
        assert_eq!(t, format!("{BODY}\n\n{BODY}"));
    }

    #[test]
    fn links_in_capitals_between_paragraphs_go() {
        let link = "WHAT ARE CHINA'S OVERSEAS POLICE STATIONS?";
        let head = "WHAT THE COURT WAS TOLD ON MONDAY";
        let blocks = vec![
            block(BODY, Class::Good),
            block(link, Class::Bad),
            block(head, Class::Short),
            block(BODY, Class::Good),
        ];
        let r = format!("{BODY}\n\n{link}\n\n{head}\n\n{BODY}");
        let (t, _) = choose(Some(r), &blocks, None);
        assert_eq!(t, format!("{BODY}\n\n{head}\n\n{BODY}"));
    }

    #[test]
    fn empty_or_wrong_block_falls_back_to_the_classifier() {
        let (t, c) = choose(None, &page(), None);
        assert_eq!(c, Choice::Blocks);
        assert_eq!(t, format!("{BODY}\n\n{BODY}"));
        let (_, c) = choose(Some("Filed under roads, council".into()), &page(), None);
        assert_eq!(c, Choice::Blocks);
    }

    #[test]
    fn sections_after_readability_text_are_added() {
        let (a, b, c) = (
            format!("{BODY} One."),
            format!("{BODY} Two."),
            format!("{BODY} Three."),
        );
        let mut blocks = vec![
            block("Home News Sport", Class::Bad),
            block(&a, Class::Good),
            block(&b, Class::Good),
            block("Advertisement", Class::Short),
            Block {
                heading: true,
                ..block("What happens next", Class::Good)
            },
            block(&c, Class::Good),
            block("Filed under roads, council", Class::Bad),
        ];
        let r = format!("{a}\n\n{b}");
        let (t, choice) = choose(Some(r.clone()), &blocks, None);
        assert_eq!(choice, Choice::Readability);
        assert_eq!(t, format!("{r}\n\nWhat happens next\n\n{c}"));
        // Without a heading, the good block after is not a new section.
        blocks[4].heading = false;
        assert_eq!(choose(Some(r.clone()), &blocks, None).0, r);
    }

    #[test]
    fn description_missing_from_readability() {
        let mut blocks = page();
        blocks.push(block(&format!("{BODY} {BODY}"), Class::Good));
        let r = format!(
            "{BODY}\n\nAnother paragraph that is not in the classifier's list at all, but long."
        );
        let (_, c) = choose(
            Some(r.clone()),
            &blocks,
            Some("The council said on Tuesday that the new road"),
        );
        assert_eq!(
            c,
            Choice::Readability,
            "the description is in Readability's text"
        );
        let (_, c) = choose(
            Some(r),
            &blocks,
            Some("Nothing like this at all opens any block here"),
        );
        assert_eq!(c, Choice::Readability);
    }
}
