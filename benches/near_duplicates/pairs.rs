//! The pair set of the near-duplicate bench, built from the dev set at
//! measure time, and the cost of the print and of the store's lookup.

use std::path::Path;
use std::time::Instant;

use feedwire::dedup::TextPrint;
use feedwire::dedup::near::is_unspaced;
use feedwire::extract::{decode_html, extract};
use feedwire::store::{PrintLookup, SqliteStore, Store, files_size};

/// An article and its copies (texts[0] is the original), or a follow-up
/// made of pieces of five articles (one text, a group of its own).
pub struct Group {
    pub name: String,
    pub texts: Vec<String>,
    pub follow_up: bool,
}

/// A small deterministic generator, so every run builds the same pairs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The same paragraphs inside another site's page: one of two templates,
/// a captioned picture, "Source:" lines, related links, header, footer.
fn rechromed(title: &str, paragraphs: &[&str], variant: usize) -> String {
    let mut body = String::new();
    for (i, p) in paragraphs.iter().enumerate() {
        body.push_str(&format!("<p>{}</p>\n", escape(p)));
        if i == 1 {
            body.push_str(
                "<figure><img src=\"/img/1.jpg\" alt=\"\"><figcaption>The scene on \
                 Tuesday. Photograph: Agency pictures</figcaption></figure>\n",
            );
        }
        if i % 4 == 3 {
            body.push_str("<p><em>Source: Original Publisher</em></p>\n");
        }
    }
    let title = escape(title);
    if variant.is_multiple_of(2) {
        format!(
            "<!DOCTYPE html><html lang=\"en\"><head><title>{title} | Aggregator</title></head><body>\
             <div class=\"topbar\"><a href=\"/\">Aggregator</a> <a href=\"/login\">Log in</a> \
             <a href=\"/sub\">Subscribe</a></div><div class=\"layout\"><div class=\"post-content\">\
             <h2 class=\"headline\">{title}</h2>{body}<div class=\"related\"><h3>Related</h3><ul>\
             <li><a href=\"/r1\">Ten things you did not know</a></li><li><a href=\"/r2\">Quiz of \
             the week</a></li><li><a href=\"/r3\">In pictures: the weekend</a></li></ul></div></div>\
             <aside><h4>Most read</h4><ol><li><a href=\"/m1\">Celebrity wedding</a></li></ol></aside>\
             </div><div class=\"footer\">Aggregator Ltd. All rights reserved. Privacy. Cookies.</div>\
             </body></html>"
        )
    } else {
        format!(
            "<!DOCTYPE html><html lang=\"en\"><head><title>{title}</title></head><body>\
             <header><nav><ul><li><a href=\"/\">Home</a></li><li><a href=\"/news\">News</a></li>\
             <li><a href=\"/sport\">Sport</a></li></ul></nav></header><main><article>\
             <header><h1>{title}</h1><p class=\"byline\">By Staff Reporter</p></header>\
             <div class=\"entry\">{body}</div><section class=\"share\">Share this article: \
             <a href=\"#\">Facebook</a> <a href=\"#\">X</a></section></article>\
             <section class=\"comments\"><h2>Comments (3)</h2><p>Great read, thanks!</p></section>\
             </main><footer><p>Sign up to our newsletter for the day's top stories.</p>\
             </footer></body></html>"
        )
    }
}

fn paragraphs(text: &str) -> Vec<&str> {
    text.split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

/// The first 60% of the text's words, by paragraph.
fn trimmed(text: &str) -> String {
    let all = paragraphs(text);
    let total: usize = all.iter().map(|p| p.split_whitespace().count()).sum();
    let (mut kept, mut words) = (Vec::new(), 0);
    for p in all {
        if words * 10 >= total * 6 {
            break;
        }
        words += p.split_whitespace().count();
        kept.push(p);
    }
    format!(
        "{}\n\nRead the full story on the publisher's site.",
        kept.join("\n\n")
    )
}

/// A word in 25 replaced, the last paragraph dropped, a line added.
fn edited(text: &str, rng: &mut Rng) -> String {
    let mut all = paragraphs(text);
    if all.len() > 2 {
        all.pop();
    }
    let mut out = vec!["Updated with reaction from officials.".to_string()];
    for p in all {
        let words: Vec<String> = p
            .split_whitespace()
            .map(|w| {
                if rng.below(25) == 0 {
                    "reportedly".to_string()
                } else {
                    w.to_string()
                }
            })
            .collect();
        out.push(words.join(" "));
    }
    out.join("\n\n")
}

/// Words a follow-up takes from each of its five articles, at most.
const FOLLOW_UP_SHARE: usize = 80;

/// The start of `text` up to `words` words, a word being a run of letters
/// and digits or one character of a script written without spaces (as the
/// print counts them), so a Chinese article gives as much as an English one.
fn first_words(text: &str, words: usize) -> &str {
    let (mut count, mut in_word) = (0, false);
    for (at, c) in text.char_indices() {
        let unspaced = is_unspaced(c);
        if unspaced || (c.is_alphanumeric() && !in_word) {
            if count == words {
                return &text[..at];
            }
            count += 1;
        }
        in_word = c.is_alphanumeric() && !unspaced;
    }
    text
}

fn word_count(text: &str) -> usize {
    let (mut count, mut in_word) = (0, false);
    for c in text.chars() {
        let unspaced = is_unspaced(c);
        if unspaced || (c.is_alphanumeric() && !in_word) {
            count += 1;
        }
        in_word = c.is_alphanumeric() && !unspaced;
    }
    count
}

/// The first words of each of five articles, in turn: at most a fifth of
/// each article and [`FOLLOW_UP_SHARE`] words, so no article makes much
/// more than a fifth of the follow-up either (by paragraphs, a
/// one-paragraph article would be all in; by fifths, a long one would make
/// most of it).
fn follow_up(sources: &[&str]) -> String {
    let mut out = Vec::new();
    for text in sources {
        let share = (word_count(text) / 5).min(FOLLOW_UP_SHARE);
        out.push(first_words(text, share).trim().to_string());
    }
    out.join("\n\n")
}

fn load(dir: &Path) -> Option<Vec<(String, String, String)>> {
    let mut cases: Vec<_> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("source.html").is_file())
        .collect();
    cases.sort();
    let mut out = Vec::new();
    // Two captures of one page (the dev set has lifehacker twice) are one
    // article, not a pair of different ones.
    let mut urls = std::collections::HashSet::new();
    for case in cases {
        let bytes = std::fs::read(case.join("source.html")).ok()?;
        let meta: serde_json::Value = std::fs::read(case.join("meta.json"))
            .ok()
            .and_then(|m| serde_json::from_slice(&m).ok())
            .unwrap_or_default();
        let url = meta["url"].as_str().and_then(|u| url::Url::parse(u).ok());
        if url.as_ref().is_some_and(|u| !urls.insert(u.to_string())) {
            continue;
        }
        let title = meta["title"].as_str().unwrap_or("Untitled").to_string();
        let html = decode_html(&bytes, None);
        let text = extract(&html, url.as_ref()).text;
        if !text.trim().is_empty() {
            let name = case
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            out.push((name, title, text));
        }
    }
    (!out.is_empty()).then_some(out)
}

pub fn build_groups(dir: &Path) -> Option<Vec<Group>> {
    let articles = load(dir)?;
    let mut rng = Rng(16);
    let mut groups = Vec::new();
    for (i, (name, title, text)) in articles.iter().enumerate() {
        let chrome = rechromed(title, &paragraphs(text), i);
        let copy = extract(&chrome, None).text;
        groups.push(Group {
            name: name.clone(),
            texts: vec![text.clone(), copy, trimmed(text), edited(text, &mut rng)],
            follow_up: false,
        });
    }
    // Offsets whose differences are all distinct: two follow-ups share at
    // most one article, so they are not copies of each other.
    const SOURCES: [usize; 5] = [0, 1, 3, 7, 12];
    for i in 0..articles.len() {
        let sources: Vec<&str> = SOURCES
            .iter()
            .map(|k| articles[(i + k) % articles.len()].2.as_str())
            .collect();
        groups.push(Group {
            name: format!("follow-up of {}", articles[i].0),
            texts: vec![follow_up(&sources)],
            follow_up: true,
        });
    }
    Some(groups)
}

/// 64-bit SimHash of a text's shingle hashes (each weighs one).
pub fn simhash(shingles: &[u64]) -> u64 {
    let mut votes = [0i32; 64];
    for h in shingles {
        for (bit, vote) in votes.iter_mut().enumerate() {
            *vote += if (h >> bit) & 1 == 1 { 1 } else { -1 };
        }
    }
    votes.iter().enumerate().fold(
        0,
        |acc, (bit, v)| if *v > 0 { acc | (1 << bit) } else { acc },
    )
}

/// The time to print a story, and the lookup plus save in a store that
/// holds `stories` prints (the dev set's and random ones), and the bytes
/// each story adds to the store's file.
pub fn costs(groups: &[Group], stories: usize) {
    let originals: Vec<&str> = groups
        .iter()
        .filter(|g| !g.follow_up)
        .map(|g| g.texts[0].as_str())
        .collect();
    let rounds = 20;
    let started = Instant::now();
    let mut printed = 0usize;
    for _ in 0..rounds {
        for text in &originals {
            printed += usize::from(std::hint::black_box(TextPrint::of(text)).is_some());
        }
    }
    let per_print = started.elapsed().as_secs_f64() * 1000.0 / (rounds * originals.len()) as f64;
    let words: usize = originals.iter().map(|t| t.split_whitespace().count()).sum();
    println!(
        "cost: print {per_print:.4} ms per story (mean over {} stories x {rounds}, {} words on average; {} printed)",
        originals.len(),
        words / originals.len(),
        printed / rounds
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("near.db");
        let store = SqliteStore::open(&path).expect("store");
        store.checkpoint().await.expect("checkpoint");
        let empty = files_size(&path);
        let mut rng = Rng(7);
        let real: Vec<TextPrint> = groups
            .iter()
            .flat_map(|g| &g.texts)
            .filter_map(|t| TextPrint::of(t))
            .collect();
        let lookup = PrintLookup {
            since_ms: 0,
            now_ms: 1_000_000_000,
            min_similarity: feedwire::dedup::near::DEFAULT_MIN_SIMILARITY,
        };
        let filling = Instant::now();
        for i in 0..stories {
            let print = real.get(i).copied().unwrap_or_else(|| TextPrint {
                shingles: 300 + rng.below(900) as u32,
                slots: std::array::from_fn(|_| rng.next() as u16),
            });
            let id = format!("{i:032x}");
            store.match_print(&id, &print, lookup).await.expect("print");
        }
        let per_fill = filling.elapsed().as_secs_f64() * 1000.0 / stories.max(1) as f64;
        store.checkpoint().await.expect("checkpoint");
        let per_story = (files_size(&path) - empty) as f64 / stories as f64;
        let started = Instant::now();
        let mut matched = 0usize;
        for (i, text) in originals.iter().enumerate() {
            let Some(print) = TextPrint::of(text) else { continue };
            let id = format!("new-{i}");
            let found = store.match_print(&id, &print, lookup).await.expect("print");
            matched += usize::from(found.is_some());
        }
        let per_lookup = started.elapsed().as_secs_f64() * 1000.0 / originals.len() as f64;
        println!(
            "cost: lookup + save {per_lookup:.4} ms per story in a SQLite store of {stories} prints ({matched} of {} matched a print of the set); {per_story:.0} bytes per story on disk (print row and its story-id index; the {} bands of each print are held in memory)",
            originals.len(),
            feedwire::dedup::near::BANDS
        );
        println!(
            "cost: lookup + save {per_fill:.4} ms per story while filling that store with {stories} prints (WAL checkpoints included)"
        );
    });
}
