//! Near-duplicate detection measured on pairs built from the extraction dev
//! set (nothing of it is copied into the repository).
//!
//!     cargo bench --bench near_duplicates -- [--dir ../shared/data/extraction]
//!                                            [--stories 10000]
//!
//! Every page of `DIR/*/source.html` is extracted as the pipeline does (its
//! "original"); from its text come three copies, each a positive pair with
//! the original: the same paragraphs inside another site's page chrome
//! (captions, "Source:" lines, related links, its own header and footer;
//! extracted again), a trimmed copy (its first 60%), and a lightly edited
//! one (a word in 25 changed, the last paragraph dropped, a line added).
//! Negatives are every pair across two articles (same publisher or not),
//! and "follow-ups": a fifth of one article's text with four fifths from
//! four others, against each of them. Printed: precision and recall of the
//! shipped MinHash (LSH bands, then the similarity threshold) over a range
//! of thresholds, the same without bands, exact containment and Jaccard on
//! the shingle sets, and 64-bit SimHash at several Hamming distances; then
//! the cost per story: computing the print, and the lookup plus save in a
//! SQLite store holding `--stories` prints, and the bytes each story adds.
//! With `NEAR_SHOW=1` in the environment, every pair the shipped settings
//! get wrong is printed (missed copies, false copies).

#[path = "near_duplicates/pairs.rs"]
mod near_pairs;

use std::path::{Path, PathBuf};

use feedwire::dedup::TextPrint;
use feedwire::dedup::near::{
    DEFAULT_MIN_SIMILARITY, MIN_SHINGLES, PRINT_BYTES, SLOTS, shingle_hashes,
};
use near_pairs::{Group, build_groups, simhash};

struct Args {
    dir: PathBuf,
    stories: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/extraction"),
        stories: 10_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--dir" => args.dir = it.next().map(PathBuf::from).unwrap_or(args.dir),
            "--stories" => {
                args.stories = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(args.stories)
            }
            _ => {} // cargo bench passes --bench
        }
    }
    args
}

/// One text of the pair set: its article group (a follow-up is a group of
/// its own, positive with nothing), whether it is an original, and what each
/// method needs of it.
struct Text {
    name: String,
    group: usize,
    original: bool,
    print: Option<TextPrint>,
    shingles: std::collections::HashSet<u64>,
    simhash: u64,
}

#[derive(Default, Clone, Copy)]
struct Tally {
    tp: u64,
    fp: u64,
    /// Positive (original, copy) pairs found, and their number.
    found: u64,
    positives: u64,
}

impl Tally {
    fn add(&mut self, same: bool, original_pair: bool, flagged: bool) {
        match (same, flagged) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            _ => {}
        }
        if same && original_pair {
            self.positives += 1;
            self.found += u64::from(flagged);
        }
    }

    fn line(&self, name: &str) -> String {
        let precision = if self.tp + self.fp == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fp) as f64
        };
        let recall = self.found as f64 / self.positives.max(1) as f64;
        format!(
            "  {name:<44} precision {precision:.4} ({} false of {})  recall {recall:.4} ({} of {})",
            self.fp,
            self.tp + self.fp,
            self.found,
            self.positives
        )
    }
}

fn main() {
    let args = parse_args();
    let Some(groups) = build_groups(&args.dir) else {
        println!(
            "near_duplicates bench: no dev set at {}",
            args.dir.display()
        );
        return;
    };
    let texts = prepare(&groups);
    let short = groups
        .iter()
        .filter(|g| TextPrint::of(&g.texts[0]).is_none())
        .count();
    println!(
        "near_duplicates bench: {} articles ({} too short for a print: under {MIN_SHINGLES} shingles), {} texts, {} pairs",
        groups.iter().filter(|g| !g.follow_up).count(),
        short,
        texts.len(),
        texts.len() * (texts.len() - 1) / 2
    );
    evaluate(&texts);
    near_pairs::costs(&groups, args.stories);
    println!("  print: {PRINT_BYTES} bytes; default min_similarity {DEFAULT_MIN_SIMILARITY}");
}

fn prepare(groups: &[Group]) -> Vec<Text> {
    let mut texts = Vec::new();
    for (index, group) in groups.iter().enumerate() {
        for (i, text) in group.texts.iter().enumerate() {
            let hashes = shingle_hashes(text);
            texts.push(Text {
                name: format!("{}#{i}", group.name),
                group: index,
                original: i == 0 && !group.follow_up,
                print: TextPrint::of(text),
                simhash: simhash(&hashes),
                shingles: hashes.into_iter().collect(),
            });
        }
    }
    texts
}

const THRESHOLDS: &[f64] = &[0.3, 0.4, 0.5, 0.6, 0.7, 0.8];
const HAMMING: &[u32] = &[3, 6, 10, 14, 18];
const AGREEING: &[usize] = &[5, 7, 9, 11];

fn evaluate(texts: &[Text]) {
    let show = std::env::var_os("NEAR_SHOW").is_some();
    let mut lsh = vec![Tally::default(); THRESHOLDS.len()];
    let mut brute = vec![Tally::default(); THRESHOLDS.len()];
    let mut exact_containment = vec![Tally::default(); THRESHOLDS.len()];
    let mut exact_jaccard = vec![Tally::default(); THRESHOLDS.len()];
    let mut grid = vec![Tally::default(); AGREEING.len() * THRESHOLDS.len()];
    let mut sim = vec![Tally::default(); HAMMING.len()];
    let mut sim_min = vec![Tally::default(); HAMMING.len()];
    for (i, a) in texts.iter().enumerate() {
        for b in &texts[i + 1..] {
            let same = a.group == b.group;
            let original_pair = a.original || b.original;
            // Texts without a print are never looked up (by design): they
            // count as not flagged, so a short article's copies are misses.
            let (estimated, banded) = match (&a.print, &b.print) {
                (Some(pa), Some(pb)) => (
                    pa.similarity(pb),
                    pa.bands().iter().zip(pb.bands()).any(|(x, y)| *x == y),
                ),
                _ => (0.0, false),
            };
            let printed = a.print.is_some() && b.print.is_some();
            if let (Some(pa), Some(pb)) = (&a.print, &b.print) {
                let agreeing = pa.agreeing(pb);
                let j = agreeing as f64 / SLOTS as f64;
                let (x, y) = (f64::from(pa.shingles), f64::from(pb.shingles));
                let c = (j * (x + y) / ((1.0 + j) * x.min(y))).min(1.0);
                for (m, &least) in AGREEING.iter().enumerate() {
                    for (t, &threshold) in THRESHOLDS.iter().enumerate() {
                        let flagged = banded && agreeing >= least && c >= threshold;
                        grid[m * THRESHOLDS.len() + t].add(same, original_pair, flagged);
                    }
                }
            }
            let common = a.shingles.intersection(&b.shingles).count() as f64;
            let smaller = a.shingles.len().min(b.shingles.len()).max(1) as f64;
            let union = (a.shingles.len() + b.shingles.len()) as f64 - common;
            let (containment, jaccard) = (common / smaller, common / union.max(1.0));
            let shipped = banded && estimated >= DEFAULT_MIN_SIMILARITY;
            if show && same && original_pair && !shipped {
                println!(
                    "  missed: {} ~ {} estimated {estimated:.2} containment {containment:.2} jaccard {jaccard:.2} sizes {} {}",
                    a.name,
                    b.name,
                    a.shingles.len(),
                    b.shingles.len()
                );
            }
            if show && !same && shipped {
                println!(
                    "  false: {} ~ {} estimated {estimated:.2} containment {containment:.2} jaccard {jaccard:.2} sizes {} {}",
                    a.name,
                    b.name,
                    a.shingles.len(),
                    b.shingles.len()
                );
            }
            for (t, &threshold) in THRESHOLDS.iter().enumerate() {
                lsh[t].add(same, original_pair, banded && estimated >= threshold);
                brute[t].add(same, original_pair, estimated >= threshold);
                exact_containment[t].add(same, original_pair, printed && containment >= threshold);
                exact_jaccard[t].add(same, original_pair, printed && jaccard >= threshold);
            }
            let distance = (a.simhash ^ b.simhash).count_ones();
            for (k, &max) in HAMMING.iter().enumerate() {
                sim[k].add(same, original_pair, printed && distance <= max);
                // The same with the shipped minimum length and 4 × 16-bit
                // pigeonhole bands only finding pairs within 3 bits.
                sim_min[k].add(same, original_pair, printed && distance <= max.min(3));
            }
        }
    }
    println!("MinHash {SLOTS} slots, LSH bands (shipped):");
    for (t, threshold) in THRESHOLDS.iter().enumerate() {
        println!("{}", lsh[t].line(&format!("min_similarity {threshold}")));
    }
    println!("MinHash with bands, by least agreeing slots (MIN_AGREEING_SLOTS) and threshold:");
    for (m, least) in AGREEING.iter().enumerate() {
        for (t, threshold) in THRESHOLDS.iter().enumerate() {
            let name = format!("agreeing >= {least}, min_similarity {threshold}");
            println!("{}", grid[m * THRESHOLDS.len() + t].line(&name));
        }
    }
    println!("MinHash without bands (every pair compared):");
    for (t, threshold) in THRESHOLDS.iter().enumerate() {
        println!("{}", brute[t].line(&format!("min_similarity {threshold}")));
    }
    println!("exact containment of the smaller shingle set:");
    for (t, threshold) in THRESHOLDS.iter().enumerate() {
        println!("{}", exact_containment[t].line(&format!(">= {threshold}")));
    }
    println!("exact Jaccard of the shingle sets:");
    for (t, threshold) in THRESHOLDS.iter().enumerate() {
        println!("{}", exact_jaccard[t].line(&format!(">= {threshold}")));
    }
    println!("SimHash 64-bit over the same shingles (every pair compared):");
    for (k, max) in HAMMING.iter().enumerate() {
        println!("{}", sim[k].line(&format!("hamming <= {max}")));
    }
    println!("SimHash with 4 x 16-bit pigeonhole bands (finds <= 3 bits only):");
    println!("{}", sim_min[0].line("hamming <= 3"));
}
