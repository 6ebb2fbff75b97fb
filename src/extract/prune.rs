//! Pruning passes: boilerplate elements removed from the DOM before
//! extraction ([`super::junk`]), and boilerplate paragraphs removed from the
//! text after.

pub use super::junk::{prune_dom, prune_subtree};
use super::match_key::match_key as key;

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
    "click here for",
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
    "this article contains affiliate links",
    "we may earn a commission",
    "watch:",
    "download the app",
    "get our newsletter",
    "join our newsletter",
    "also read:",
    "read also:",
    // Calls for readers' tips.
    "do you have a story to tell",
    "got a story?",
    "get in touch with our news team",
    "for more stories like this",
    // Notices to readers with an ad blocker.
    "ad block users",
    "adblock users",
    "please disable your ad blocker",
    "it looks like you're using an ad blocker",
    "we noticed you're using an ad blocker",
];

const JUNK_EXACT: &[&str] = &[
    "advertisement",
    "ad",
    "share",
    "comments",
    "read more",
    "up next",
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
    // A page's tools beside the story: print, mail, type size, rating.
    "digg this",
    "email to a friend",
    "e-mail to a friend",
    "send to a friend",
    "printer friendly",
    "printer-friendly version",
    "print this article",
    "print this story",
    "email this article",
    "e-mail this article",
    "email this story",
    "rate this article",
    "report this comment",
    "report abuse",
    "font size",
    "text size",
    "view larger image",
    "enlarge this image",
    "enlarge image",
    "next page",
    "back to top",
    "author of the article",
    "join the conversation",
    "article continues below",
    "open this photo in gallery",
    "click photo to enlarge",
    "click image to enlarge",
    "click to enlarge",
];

/// A re-publisher's attribution line ("Source: BBC", "Via: Reuters"): a
/// short label, a colon and a name of a few words.
fn is_attribution(l: &str) -> bool {
    let Some((label, name)) = l.split_once(':') else {
        return false;
    };
    matches!(
        label.trim(),
        "source"
            | "sources"
            | "via"
            | "credit"
            | "courtesy"
            | "image credit"
            | "image credits"
            | "photo credit"
            | "photo credits"
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
    if l.len() >= MAX_CAPTION_CHARS || open.len() > MAX_CREDIT_CHARS {
        return false;
    }
    // "(Photos by Associated Press; photo illustration by …)"
    if CREDIT_BYS.iter().any(|b| open.starts_with(b)) {
        return true;
    }
    let Some((label, name)) = open.split_once(':') else {
        return false;
    };
    !name.trim().is_empty() && CREDIT_LABELS.contains(&label.trim())
}

/// Openings of a photo credit written as a phrase, lower-cased.
const CREDIT_BYS: &[&str] = &[
    "photo by ",
    "photos by ",
    "photograph by ",
    "photographs by ",
    "photo illustration by ",
];

/// A photo's credit line on its own, "David M. Benett/Getty Images",
/// "Stephane Cardinale - Corbis/Getty Images", "Jane Doe via Reuters": a
/// short line without a sentence's end, ending in a picture agency after a
/// slash, a dash or "via".
fn is_photo_credit(l: &str) -> bool {
    l.len() <= MAX_CREDIT_LINE_CHARS
        && !l.ends_with('.')
        && PHOTO_AGENCIES.iter().any(|a| {
            l.strip_suffix(a).is_some_and(|head| {
                head.ends_with('/') || head.ends_with(" - ") || head.ends_with(" via ")
            })
        })
}

/// Longest line taken for a card's time or duration stamp.
const MAX_STAMP_CHARS: usize = 40;

/// A time or duration stamp of a story or video card on its own line: "14
/// hours ago", "21 mins ago11:48 Jon King", "Duration 1:30".
fn is_card_stamp(l: &str) -> bool {
    // "Jane Doe|Published 4 months ago": an author and the stamp.
    if let Some((author, stamp)) = l.rsplit_once('|')
        && let Some(ago) = stamp.trim().strip_prefix("published ")
    {
        return author.len() <= MAX_STAMP_CHARS && is_card_stamp(ago);
    }
    if l.len() > MAX_STAMP_CHARS {
        return false;
    }
    if let Some(d) = l.strip_prefix("duration ") {
        return d
            .split(':')
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    }
    let mut words = l.split_whitespace();
    let (Some(n), Some(unit), Some(ago)) = (words.next(), words.next(), words.next()) else {
        return false;
    };
    n.bytes().all(|b| b.is_ascii_digit())
        && matches!(
            unit.trim_end_matches('s'),
            "sec" | "second" | "min" | "minute" | "hr" | "hour" | "day" | "week" | "month"
        )
        && ago.starts_with("ago")
}

/// A video card, "WATCH | title: its blurb", as long as its blurb.
fn is_video_card(l: &str) -> bool {
    l.starts_with("watch |") && l.len() < MAX_CAPTION_CHARS
}

/// Longest line taken for a reading-time stamp.
const MAX_READING_TIME_CHARS: usize = 100;

/// A story's reading time, alone or closing its date line: "17 minute
/// read", "Published Jun 05, 2026 • Last updated 1 day ago • 2 minute read".
fn is_reading_time(l: &str) -> bool {
    if l.len() > MAX_READING_TIME_CHARS {
        return false;
    }
    let Some(head) = ["minute read", "minutes read", "min read", "mins read"]
        .iter()
        .find_map(|unit| l.strip_suffix(unit))
    else {
        return false;
    };
    head.trim_end()
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()
        .is_some_and(|n| !n.is_empty())
}

/// Picture agencies, lower-cased, as credit lines end with them.
const PHOTO_AGENCIES: &[&str] = &[
    "getty images",
    "reuters",
    "ap",
    "ap photo",
    "afp",
    "epa",
    "shutterstock",
    "alamy",
    "istock",
    "pa images",
    "pa wire",
    "bloomberg",
    "corbis",
];
/// Longest line taken for a photo credit on its own.
const MAX_CREDIT_LINE_CHARS: usize = 80;

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
/// Longest credit in a caption's closing brackets ("Photo: Frank van Beek /
/// UN Photo / ICJ-CIJ. Courtesy of the ICJ").
const MAX_CREDIT_CHARS: usize = 100;
/// Longest caption: a long one tells the scene and the story behind it.
const MAX_CAPTION_CHARS: usize = 1_000;
/// Longest boilerplate line known by its opening words (an ad-blocker
/// notice runs to a few sentences).
const MAX_NOTICE_CHARS: usize = 400;

fn is_junk_paragraph(p: &str) -> bool {
    let l = p.trim().to_lowercase();
    if is_attribution(&l)
        || is_credited_caption(&l)
        || is_photo_credit(&l)
        || is_card_stamp(&l)
        || is_reading_time(&l)
        || is_video_card(&l)
    {
        return true;
    }
    let l = l.trim_end_matches(['.', ':', '!']);
    if JUNK_EXACT.contains(&l) {
        return true;
    }
    JUNK_PREFIXES.iter().any(|j| l.starts_with(j)) && l.len() < MAX_NOTICE_CHARS
}

/// Remove boilerplate paragraphs, a leading headline, and a leading byline.
/// The page's other headlines (JSON-LD `headline`, `name`: an SEO headline
/// beside the `<h1>`) are dropped like the title when they lead.
pub fn prune_text(
    text: &str,
    title: Option<&str>,
    headlines: &[&str],
    authors: &[String],
) -> String {
    let title_key = title.map(key).unwrap_or_default();
    let headline_keys: Vec<String> = headlines
        .iter()
        .map(|h| key(h))
        .chain([title_key.clone()])
        .filter(|k| !k.is_empty())
        .collect();
    let repeated = repeated_labels(text);
    let mut out: Vec<String> = Vec::new();
    for (i, para) in text.split("\n\n").enumerate() {
        let lines: Vec<&str> = para
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !is_junk_paragraph(l) && !is_repeated_label(l, &repeated))
            .collect();
        if lines.is_empty() {
            continue;
        }
        let para = lines.join("\n");
        if i < 3 && out.is_empty() && headline_keys.contains(&key(&para)) {
            continue;
        }
        if out.len() < 3 && is_byline(&para, authors) {
            continue;
        }
        out.push(para);
    }
    let out = drop_before_headline(out, &title_key);
    super::story_lists::drop_story_lists(out).join("\n\n")
}

/// Shortest headline key looked for in a text: shorter ones ("news")
/// could be any line.
const MIN_HEADLINE_KEY: usize = 12;

/// Whether `p` is the page's headline: its title, or the title's start
/// when the title carries more ("Aidy recalls big guns (from Harrow Times)").
fn is_headline(p: &str, title_key: &str) -> bool {
    if p.contains('\n') {
        return false;
    }
    let k = key(p);
    k.len() >= MIN_HEADLINE_KEY
        && (k == title_key || (title_key.starts_with(&k) && k.len() * 2 >= title_key.len()))
}

/// A text that opens with the page's other boxes (editor's picks, a most-read
/// list) before the story's headline: the story starts after its headline,
/// when the first half of the text holds it and more prose follows it than
/// comes before it.
fn drop_before_headline(paras: Vec<String>, title_key: &str) -> Vec<String> {
    if title_key.len() < MIN_HEADLINE_KEY {
        return paras;
    }
    let total: usize = paras.iter().map(String::len).sum();
    let mut seen = 0;
    let mut at = None;
    for (i, p) in paras.iter().enumerate() {
        if seen * 2 > total {
            break;
        }
        if i > 0 && is_headline(p, title_key) {
            at = Some(i);
            break;
        }
        seen += p.len();
    }
    let Some(h) = at else {
        return paras;
    };
    let prose = |ps: &[String]| -> usize {
        ps.iter()
            .filter(|p| super::story_lists::is_prose(p))
            .map(String::len)
            .sum()
    };
    if prose(&paras[..h]) * 2 < prose(&paras[h + 1..]) {
        paras[h + 1..].to_vec()
    } else {
        paras
    }
}

/// Short one-line paragraphs that stand alone [`MIN_LABEL_REPEATS`] times
/// or more in a text: labels a template puts between paragraphs ("Article
/// content", "Advertisement" in another language), never the article's own;
/// also labels that open as many one-line paragraphs before a " | " ("READ
/// ALSO | another story's headline", in any language).
fn repeated_labels(text: &str) -> std::collections::HashSet<&str> {
    let mut counts: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for l in text.split("\n\n").map(str::trim) {
        if l.contains('\n') {
            continue;
        }
        let label = l.split_once(LABEL_BAR).map_or(l, |(label, _)| label);
        if label.chars().any(char::is_alphabetic) && label.chars().count() <= MAX_LABEL_CHARS {
            *counts.entry(label).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .filter(|&(_, n)| n >= MIN_LABEL_REPEATS)
        .map(|(l, _)| l)
        .collect()
}

/// What ends a label at the start of a line ("READ ALSO | …").
const LABEL_BAR: &str = " | ";

/// Whether a line is one of the [`repeated_labels`] or opens with one.
fn is_repeated_label(l: &str, repeated: &std::collections::HashSet<&str>) -> bool {
    repeated.contains(l)
        || l.split_once(LABEL_BAR)
            .is_some_and(|(label, _)| repeated.contains(label))
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
#[path = "prune_tests.rs"]
mod tests;
