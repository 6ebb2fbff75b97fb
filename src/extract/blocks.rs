//! A second, generic extraction method: the page cut into text blocks, each
//! classified by its own shallow features and then by its neighbours, in the
//! spirit of jusText (Pomikálek 2011) and of Kohlschütter et al.'s
//! "Boilerplate Detection using Shallow Text Features": long blocks with many
//! stop words and few link words are text, link lists and short fragments are
//! boilerplate, and short blocks between text blocks are text.
//!
//! It is strong where Readability is weak (old table layouts, pages whose
//! best-scored container is a menu or an ad box) and is also used to judge
//! Readability's output (see [`super::choose`]).

use std::hash::{DefaultHasher, Hash, Hasher};

use dom_query::{NodeId, NodeRef};

use super::stopwords::is_stop_word;
use crate::text::html_text::{BLOCK, LINE, Profile, is_hidden};

/// Block classes, jusText's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Good,
    NearGood,
    Short,
    Bad,
}

/// One run of text between block boundaries.
#[derive(Debug, Clone)]
pub struct Block {
    pub text: String,
    /// Characters of the text inside links.
    pub link_chars: usize,
    pub heading: bool,
    pub class: Class,
    /// The block's nearest container element with a class (a `div`,
    /// `section`… not the paragraph itself), and that class hashed: a story
    /// cut into sections between ads and boxes has one such container per
    /// section, all of one class (see [`super::choose`]).
    pub container: Option<(NodeId, u64)>,
}

impl Block {
    pub fn link_density(&self) -> f64 {
        self.link_chars as f64 / self.text.chars().count().max(1) as f64
    }
}

const LENGTH_LOW: usize = 70;
const LENGTH_HIGH: usize = 200;
const STOPWORDS_LOW: f64 = 0.30;
const STOPWORDS_HIGH: f64 = 0.32;
const MAX_LINK_DENSITY: f64 = 0.2;
/// Most blocks classified (a bound on time for huge pages).
const MAX_BLOCKS: usize = 20_000;

enum Step<'a> {
    /// A node, whether it is inside a link, and its nearest container.
    Enter(NodeRef<'a>, bool, Option<NodeRef<'a>>),
    Exit(bool),
}

#[derive(Default)]
struct Cut<'a> {
    blocks: Vec<Block>,
    text: String,
    link_chars: usize,
    heading: bool,
    /// The container of the block's first text.
    container: Option<NodeRef<'a>>,
}

/// Elements that group a story's paragraphs, as containers of blocks.
const CONTAINERS: &[&str] = &["div", "section", "article", "main", "ul", "ol", "table"];

/// The class of a container element, hashed.
fn class_hash(node: &NodeRef) -> Option<(NodeId, u64)> {
    let class = node.attr("class")?;
    let mut h = DefaultHasher::new();
    class.hash(&mut h);
    Some((node.id, h.finish()))
}

impl<'a> Cut<'a> {
    fn push_in(&mut self, s: &str, link: bool, container: Option<NodeRef<'a>>) {
        if self.text.is_empty() {
            self.container = container;
        }
        self.push(s, link);
    }

    fn push(&mut self, s: &str, link: bool) {
        for w in s.split_whitespace() {
            if !self.text.is_empty() {
                self.text.push(' ');
            }
            self.text.push_str(w);
            if link {
                self.link_chars += w.chars().count();
            }
        }
    }

    fn flush(&mut self) {
        if self.blocks.len() < MAX_BLOCKS && self.text.chars().any(char::is_alphanumeric) {
            self.blocks.push(Block {
                // Words were joined by single spaces in `push`.
                text: self.text.clone(),
                link_chars: self.link_chars,
                heading: self.heading,
                class: Class::Bad,
                container: self.container.as_ref().and_then(class_hash),
            });
        }
        self.text.clear();
        self.link_chars = 0;
        self.heading = false;
        self.container = None;
    }
}

/// Cut the subtree under `root` into text blocks (not yet classified).
pub fn cut(root: &NodeRef) -> Vec<Block> {
    let mut c = Cut::default();
    let mut stack = vec![Step::Enter(*root, false, None)];
    while let Some(step) = stack.pop() {
        match step {
            Step::Exit(boundary) => {
                if boundary {
                    c.flush();
                }
            }
            Step::Enter(node, link, container) => {
                if node.is_text() {
                    c.push_in(&node.text(), link, container);
                    continue;
                }
                if !(node.is_element() || node.is_document()) {
                    continue;
                }
                let mut boundary = false;
                let mut link = link;
                let mut container = container;
                if node.is_element() {
                    // html5ever gives HTML element names in lower case.
                    let name = node.node_name().unwrap_or_default();
                    let name: &str = &name;
                    if Profile::Article.skips(name) || is_hidden(&node) {
                        continue;
                    }
                    if name == "br" {
                        // Two line breaks in a row end a block, one does not.
                        if node.next_element_sibling().is_some_and(|n| {
                            n.node_name().is_some_and(|n| n.eq_ignore_ascii_case("br"))
                        }) {
                            c.flush();
                        }
                        c.push(" ", false);
                        continue;
                    }
                    link |= name == "a";
                    if CONTAINERS.contains(&name) && node.has_attr("class") {
                        container = Some(node);
                    }
                    boundary = BLOCK.contains(&name)
                        || LINE.contains(&name)
                        || matches!(name, "td" | "th");
                    if boundary {
                        c.flush();
                        c.heading = matches!(name, "h1" | "h2" | "h3" | "h4" | "h5" | "h6");
                    }
                }
                stack.push(Step::Exit(boundary));
                // Last child first, so that the first is taken first.
                stack.extend(
                    node.children_it(true)
                        .map(|ch| Step::Enter(ch, link, container)),
                );
            }
        }
    }
    c.flush();
    c.blocks
}

/// Share of the words that are stop words (of any known language).
fn stop_word_density(text: &str) -> f64 {
    let (mut words, mut stops) = (0usize, 0usize);
    for w in text.split(|c: char| !c.is_alphanumeric() && c != '\'') {
        if w.is_empty() {
            continue;
        }
        words += 1;
        let stop = if w.chars().any(char::is_uppercase) {
            is_stop_word(&w.to_lowercase())
        } else {
            is_stop_word(w)
        };
        if stop {
            stops += 1;
        }
    }
    stops as f64 / words.max(1) as f64
}

/// Below this share of stop words over the whole page, its language is not
/// one of the lists' and stop words are not used (jusText's "no stop list").
const KNOWN_LANGUAGE: f64 = 0.10;

fn initial_class(b: &Block, known_language: bool) -> Class {
    let len = b.text.chars().count();
    let lower = b.text.to_lowercase();
    if b.link_density() > MAX_LINK_DENSITY || lower.contains('©') || lower.contains("copyright") {
        return Class::Bad;
    }
    if len < LENGTH_LOW {
        return if b.link_chars > 0 {
            Class::Bad
        } else {
            Class::Short
        };
    }
    let sw = if known_language {
        stop_word_density(&b.text)
    } else {
        1.0
    };
    if sw >= STOPWORDS_HIGH {
        if len > LENGTH_HIGH {
            Class::Good
        } else {
            Class::NearGood
        }
    } else if sw >= STOPWORDS_LOW {
        Class::NearGood
    } else {
        Class::Bad
    }
}

/// For each block, the class of the nearest block before it (`back`) or
/// after it that is neither short nor (with `ignore_near_good`) near-good;
/// bad at the page's edge. Linear: one pass each way.
fn neighbours(classes: &[Class], back: bool, ignore_near_good: bool) -> Vec<Class> {
    let skip = |c: Class| c == Class::Short || (ignore_near_good && c == Class::NearGood);
    let n = classes.len();
    let mut out = vec![Class::Bad; n];
    let mut last = Class::Bad;
    let order: Box<dyn Iterator<Item = usize>> = if back {
        Box::new(0..n)
    } else {
        Box::new((0..n).rev())
    };
    for i in order {
        out[i] = last;
        if !skip(classes[i]) {
            last = classes[i];
        }
    }
    out
}

/// Whether the page's language is one of the stop lists'.
/// (Judged on the page's longest blocks, up to [`LANGUAGE_SAMPLE`] characters.)
pub fn known_language(blocks: &[Block]) -> bool {
    let mut all = String::new();
    for b in blocks.iter().filter(|b| b.text.len() >= LENGTH_LOW) {
        if all.len() >= LANGUAGE_SAMPLE {
            break;
        }
        all.push_str(&b.text);
        all.push(' ');
    }
    stop_word_density(&all) >= KNOWN_LANGUAGE
}

/// Characters of text sampled for [`known_language`].
const LANGUAGE_SAMPLE: usize = 4_000;

/// Classify the blocks: each by its own features, then the short and
/// near-good ones by their neighbours.
pub fn classify(blocks: &mut [Block]) {
    let known_language = known_language(blocks);
    let initial: Vec<Class> = blocks
        .iter()
        .map(|b| initial_class(b, known_language))
        .collect();
    // Headings right before text are text (jusText keeps them near-good).
    let mut classes = initial.clone();
    for i in 0..blocks.len() {
        if blocks[i].heading
            && classes[i] != Class::Good
            && blocks[i].link_density() <= MAX_LINK_DENSITY
        {
            let mut dist = 0usize;
            for (j, b) in blocks.iter().enumerate().skip(i + 1) {
                if initial[j] == Class::Good {
                    classes[i] = Class::NearGood;
                    break;
                }
                dist += b.text.len();
                if dist > LENGTH_HIGH {
                    break;
                }
            }
        }
    }
    let mut out = classes.clone();
    let prev_far = neighbours(&classes, true, true);
    let next_far = neighbours(&classes, false, true);
    let prev_near = neighbours(&classes, true, false);
    let next_near = neighbours(&classes, false, false);
    for i in 0..blocks.len() {
        if classes[i] != Class::Short {
            continue;
        }
        let (prev, next) = (prev_far[i], next_far[i]);
        out[i] = match (prev, next) {
            (Class::Good, Class::Good) => Class::Good,
            (Class::Bad, Class::Bad) => Class::Bad,
            (Class::Bad, _) if prev_near[i] == Class::NearGood => Class::Good,
            (_, Class::Bad) if next_near[i] == Class::NearGood => Class::Good,
            _ => Class::Bad,
        };
    }
    for i in 0..blocks.len() {
        if classes[i] != Class::NearGood {
            continue;
        }
        let (prev, next) = (prev_far[i], next_far[i]);
        out[i] = if prev == Class::Bad && next == Class::Bad {
            Class::Bad
        } else {
            Class::Good
        };
    }
    for (b, c) in blocks.iter_mut().zip(out) {
        b.class = c;
    }
}

/// The classified blocks of the subtree under `root`.
pub fn classified(root: &NodeRef) -> Vec<Block> {
    let mut blocks = cut(root);
    classify(&mut blocks);
    blocks
}

/// The text of the good blocks, one paragraph each.
pub fn good_text(blocks: &[Block]) -> String {
    blocks
        .iter()
        .filter(|b| b.class == Class::Good)
        .map(|b| b.text.as_str())
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use dom_query::Document;

    const PARA: &str = "The council said on Tuesday that the new road would be built in the \
        spring, and that it was not yet clear how much of the cost would be met by the town \
        or by the county, which has said that it will not pay for any more roads this year.";

    fn page() -> String {
        format!(
            r#"<body><table><tr><td><a href=/>Home</a> | <a href=/n>News</a> | <a href=/s>Sport</a></td></tr>
<tr><td><font><b>Road plan backed</b></font><br><br>{PARA}<br><br>Short line.<br><br>{PARA}</td>
<td><a href=/x>Win a holiday in the sun with our partners today</a><br><br>Buy cheap flights, hotels, car hire deals, insurance quotes online now</td></tr></table>
<p>Copyright 2008 Town Paper</p></body>"#
        )
    }

    #[test]
    fn text_blocks_are_good_and_chrome_is_bad() {
        let doc = Document::from(page().as_str());
        let blocks = classified(&doc.root());
        let text = good_text(&blocks);
        assert!(text.starts_with("The council said"), "{text}");
        assert!(text.contains("Short line."), "{text}");
        assert_eq!(text.matches("The council said").count(), 2);
        for junk in ["Home", "holiday", "cheap flights", "Copyright"] {
            assert!(!text.contains(junk), "{junk}: {text}");
        }
    }

    #[test]
    fn link_density_and_headings() {
        let doc = Document::from(
            format!("<h2>What next</h2><p>{PARA}</p><ul><li><a href=/a>One story</a></li><li><a href=/b>Two</a></li></ul>")
                .as_str(),
        );
        let blocks = classified(&doc.root());
        let text = good_text(&blocks);
        assert!(text.starts_with("What next\n\nThe council"), "{text}");
        assert!(!text.contains("One story"));
        assert!(blocks.iter().any(|b| b.link_density() > 0.9));
    }

    #[test]
    fn languages_without_a_stop_list_use_length_and_links() {
        let zh = "在采访中，我们了解到不少学子在出国前就每年守在电脑前观看两会直播。但是，随着年龄和阅历的增长，\
            学子对两会的关注点在出国前后发生了很大的变化。在采访中，我们了解到不少学子在出国前就每年守在电脑前观看两会直播。";
        let doc = Document::from(
            format!(
                "<p><a href=/>首页</a> | <a href=/n>新闻</a></p><p>{zh}{zh}{zh}</p><p>{zh}</p>"
            )
            .as_str(),
        );
        let bl = classified(&doc.root());
        let text = good_text(&bl);
        assert_eq!(text.matches("在采访中").count(), 8, "{text}");
        assert!(!text.contains("首页"));
    }

    #[test]
    fn other_languages_have_stop_words_too() {
        let de = "Der Gemeinderat hat am Dienstag beschlossen, dass die neue Straße im Frühjahr \
            gebaut wird, und es ist noch nicht klar, wie viel die Stadt davon selbst zahlen muss \
            und wie viel das Land, das schon gesagt hat, dass es in diesem Jahr nicht mehr zahlt.";
        let doc = Document::from(format!("<p>{de}</p><p>{de}</p>").as_str());
        assert_eq!(
            good_text(&classified(&doc.root()))
                .matches("Gemeinderat")
                .count(),
            2
        );
    }
}
