//! Near-duplicate stories across sources: a MinHash print of a story's clean
//! text, its LSH bands (what the store indexes), and the similarity of two
//! prints.
//!
//! Why MinHash and not SimHash: copies that are trimmed (a republisher runs
//! the first half of a story) keep most of their shingles *inside* the
//! original, which a containment estimate from MinHash and the set sizes
//! sees; a 64-bit SimHash drifts far (about 14 bits for a 60% trim) and its
//! pigeonhole bands would need more rows than MinHash's to find it. The
//! measurements behind the constants are in docs/benchmarks.md
//! (`cargo bench --bench near_duplicates`).

use std::sync::OnceLock;

/// Words per shingle: three keep unrelated texts apart (two stories about
/// one event share words and pairs of words, rarely runs of three).
pub const SHINGLE_WORDS: usize = 3;

/// MinHash slots per print.
pub const SLOTS: usize = 24;

/// Slots per LSH band: two keep chance candidates rare (both slots must
/// agree), twelve bands find a pair of Jaccard 0.4 with probability 0.88
/// and of 0.5 with 0.97.
pub const BAND_ROWS: usize = 2;

/// LSH bands per print, one index row each in the store.
pub const BANDS: usize = SLOTS / BAND_ROWS;

/// Below this many shingles (about 40 words) a text gets no print and no
/// lookup: a one-sentence feed summary says too little to tell stories
/// apart, and its few shingles would match unrelated stories by chance.
pub const MIN_SHINGLES: u32 = 40;

/// Slots that must agree (an estimated Jaccard of 0.29) before the
/// containment estimate counts. The estimate multiplies the Jaccard
/// estimate by up to (a + b) / a for texts of sizes a < b, so with fewer,
/// a follow-up that shares an eighth of its text with a story three times
/// its length can look contained by the luck of a few slots (on the pair
/// set: 5 such false pairs at 5 slots, none at 7; docs/benchmarks.md).
pub const MIN_AGREEING_SLOTS: usize = 7;

/// The default `duplicates.min_similarity`: estimated containment of the
/// shorter text's shingles in the longer's. Copies under other chrome, or
/// trimmed to 60%, or lightly edited are at 0.8 to 1; follow-ups that
/// reuse a fifth of a story at 0.1 to 0.3 (0.5 at the estimate's noise).
pub const DEFAULT_MIN_SIMILARITY: f64 = 0.6;

/// A story's text print: its shingle count and, per slot, a 16-bit digest
/// of the least hash of its shingles under that slot's hash function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextPrint {
    pub shingles: u32,
    pub slots: [u16; SLOTS],
}

/// What a print is stored as: 4 bytes of shingle count, 2 per slot.
pub const PRINT_BYTES: usize = 4 + 2 * SLOTS;

#[derive(Debug, thiserror::Error)]
#[error("a text print is {PRINT_BYTES} bytes, this one is {0}")]
pub struct PrintDecodeError(pub usize);

/// Odd multipliers and offsets of each slot's hash, fixed forever: a print
/// made by another release must compare with this one's.
fn slot_keys() -> &'static [(u64, u64); SLOTS] {
    static KEYS: OnceLock<[(u64, u64); SLOTS]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut state = 0x6665_6564_7769_7265_u64; // "feedwire"
        std::array::from_fn(|_| {
            let a = splitmix(&mut state) | 1;
            let b = splitmix(&mut state);
            (a, b)
        })
    })
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    mix(*state)
}

/// SplitMix64's finalizer: every input bit reaches every output bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Whether `c` is written without spaces between words (Han, kana,
/// Hangul, Thai): each such character counts as a word of its own.
pub fn is_unspaced(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0E7F      // Thai
        | 0x3040..=0x30FF    // kana
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF) // CJK compatibility ideographs
}

/// The hashes of the text's words: runs of letters and digits, lower-cased
/// (punctuation, quotes and spacing do not make two copies differ).
pub fn word_hashes(text: &str) -> Vec<u64> {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut words = Vec::with_capacity(text.len() / 6);
    let mut hash = FNV_OFFSET;
    let mut in_word = false;
    let push = |c: char, hash: &mut u64| {
        let mut buf = [0u8; 4];
        for b in c.encode_utf8(&mut buf).bytes() {
            *hash = (*hash ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        }
    };
    for c in text.chars() {
        // Most text is ASCII: hashed as the general path below would hash
        // it (one lower-cased byte), without its per-character iterators.
        if c.is_ascii() {
            if c.is_ascii_alphanumeric() {
                hash = (hash ^ u64::from(c.to_ascii_lowercase() as u8)).wrapping_mul(FNV_PRIME);
                in_word = true;
            } else if in_word {
                words.push(hash);
                (hash, in_word) = (FNV_OFFSET, false);
            }
        } else if is_unspaced(c) {
            if in_word {
                words.push(hash);
            }
            let mut single = FNV_OFFSET;
            push(c, &mut single);
            words.push(single);
            (hash, in_word) = (FNV_OFFSET, false);
        } else if c.is_alphanumeric() {
            for lower in c.to_lowercase() {
                push(lower, &mut hash);
            }
            in_word = true;
        } else if in_word {
            words.push(hash);
            (hash, in_word) = (FNV_OFFSET, false);
        }
    }
    if in_word {
        words.push(hash);
    }
    words
}

/// The hash of each run of [`SHINGLE_WORDS`] words, in text order.
pub fn shingle_hashes(text: &str) -> Vec<u64> {
    let words = word_hashes(text);
    words
        .windows(SHINGLE_WORDS)
        .map(|w| mix(w[0] ^ w[1].rotate_left(21) ^ w[2].rotate_left(42)))
        .collect()
}

impl TextPrint {
    /// The print of a story's clean text; `None` below [`MIN_SHINGLES`].
    pub fn of(text: &str) -> Option<TextPrint> {
        let shingles = shingle_hashes(text);
        let count = u32::try_from(shingles.len()).unwrap_or(u32::MAX);
        if count < MIN_SHINGLES {
            return None;
        }
        let keys = slot_keys();
        let mut least = [u64::MAX; SLOTS];
        for &h in &shingles {
            for (slot, &(a, b)) in least.iter_mut().zip(keys) {
                let v = h.wrapping_mul(a).wrapping_add(b);
                if v < *slot {
                    *slot = v;
                }
            }
        }
        // The digest of the whole least value, not its top bits: the least
        // of hundreds of hashes has mostly zero top bits, so cutting them
        // would make unrelated texts agree often.
        let slots = least.map(|v| (mix(v) >> 48) as u16);
        Some(TextPrint {
            shingles: count,
            slots,
        })
    }

    /// Slots on which the two prints agree.
    pub fn agreeing(&self, other: &TextPrint) -> usize {
        self.slots
            .iter()
            .zip(&other.slots)
            .filter(|(a, b)| a == b)
            .count()
    }

    /// Estimated share of the shorter text's shingles that the longer text
    /// has too (containment), from the Jaccard estimate and the two sizes:
    /// a trimmed copy is wholly inside its original. 0 when fewer than
    /// [`MIN_AGREEING_SLOTS`] slots agree.
    pub fn similarity(&self, other: &TextPrint) -> f64 {
        let agreeing = self.agreeing(other);
        if agreeing < MIN_AGREEING_SLOTS {
            return 0.0;
        }
        let jaccard = agreeing as f64 / SLOTS as f64;
        let (a, b) = (f64::from(self.shingles), f64::from(other.shingles));
        (jaccard * (a + b) / ((1.0 + jaccard) * a.min(b))).min(1.0)
    }

    /// The print's LSH band keys: two prints that agree on every slot of a
    /// band share that band's key. The band's number is hashed in, so equal
    /// slots in different bands give different keys.
    pub fn bands(&self) -> [i64; BANDS] {
        std::array::from_fn(|band| {
            let mut key = (band as u64) << 32;
            for row in 0..BAND_ROWS {
                key = mix(key ^ (u64::from(self.slots[band * BAND_ROWS + row]) << (16 * row)));
            }
            key as i64
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(PRINT_BYTES);
        bytes.extend_from_slice(&self.shingles.to_le_bytes());
        for slot in self.slots {
            bytes.extend_from_slice(&slot.to_le_bytes());
        }
        bytes
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<TextPrint, PrintDecodeError> {
        if bytes.len() != PRINT_BYTES {
            return Err(PrintDecodeError(bytes.len()));
        }
        let (count, slots) = bytes.split_at(4);
        let mut print = TextPrint {
            shingles: u32::from_le_bytes(count.try_into().expect("4 bytes")),
            slots: [0; SLOTS],
        };
        for (slot, pair) in print.slots.iter_mut().zip(slots.chunks_exact(2)) {
            *slot = u16::from_le_bytes([pair[0], pair[1]]);
        }
        Ok(print)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distinct made-up sentences, so tests do not depend on any corpus.
    fn sentences(seed: u64, count: usize) -> Vec<String> {
        const WORDS: &[&str] = &[
            "council", "harbour", "vote", "minister", "river", "school", "budget", "storm",
            "railway", "hospital", "league", "festival", "court", "museum", "bridge", "farm",
            "energy", "prices", "police", "report", "market", "coast", "election", "museum",
            "teachers", "flood", "airport", "garden", "library", "tower", "village", "strike",
        ];
        let mut state = seed;
        (0..count)
            .map(|_| {
                let words: Vec<&str> = (0..12)
                    .map(|_| WORDS[(splitmix(&mut state) % WORDS.len() as u64) as usize])
                    .collect();
                format!("{}.", words.join(" "))
            })
            .collect()
    }

    fn text(seed: u64, count: usize) -> String {
        sentences(seed, count).join(" ")
    }

    #[test]
    fn the_same_text_in_other_spacing_and_case_is_the_same_print() {
        let a = text(1, 30);
        let b = format!("  {}\n\n", a.to_uppercase().replace(". ", ".\n\n“"));
        let (pa, pb) = (TextPrint::of(&a).unwrap(), TextPrint::of(&b).unwrap());
        assert_eq!(pa, pb);
        assert_eq!(pa.similarity(&pb), 1.0);
        assert_eq!(pa.bands(), pb.bands());
    }

    #[test]
    fn a_trimmed_copy_is_contained_and_another_text_is_not() {
        let original = sentences(2, 60);
        let full = TextPrint::of(&original.join(" ")).unwrap();
        let trimmed = TextPrint::of(&original[..36].join(" ")).unwrap();
        let other = TextPrint::of(&text(3, 60)).unwrap();
        assert!(full.similarity(&trimmed) >= DEFAULT_MIN_SIMILARITY);
        assert!(full.similarity(&other) < DEFAULT_MIN_SIMILARITY);
        assert!(
            full.bands()
                .iter()
                .zip(trimmed.bands())
                .any(|(a, b)| *a == b),
            "the trimmed copy shares a band with its original"
        );
    }

    #[test]
    fn short_texts_get_no_print() {
        assert_eq!(TextPrint::of("One sentence of a feed summary."), None);
        assert_eq!(TextPrint::of(""), None);
        // n words make n - 2 shingles of three.
        let words: Vec<String> = (0..MIN_SHINGLES + 1).map(|i| format!("w{i}")).collect();
        assert_eq!(TextPrint::of(&words.join(" ")), None);
        let words: Vec<String> = (0..MIN_SHINGLES + 2).map(|i| format!("w{i}")).collect();
        assert_eq!(
            TextPrint::of(&words.join(" ")).unwrap().shingles,
            MIN_SHINGLES
        );
    }

    #[test]
    fn unspaced_scripts_count_each_character_as_a_word() {
        assert_eq!(word_hashes("東京都").len(), 3);
        assert_eq!(word_hashes("abc 東京 def").len(), 4);
        assert_eq!(word_hashes("Ünïcode ÜNÏCODE"), {
            let one = word_hashes("ünïcode");
            vec![one[0], one[0]]
        });
    }

    #[test]
    fn ascii_words_hash_as_any_other_letters_do() {
        // "é" takes the general path; "e" the ASCII one: the word they
        // share must hash as if both had taken the general one.
        let general = |word: &str| {
            let mut hash = 0xcbf2_9ce4_8422_2325_u64;
            for b in word.to_lowercase().bytes() {
                hash = (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
            }
            hash
        };
        assert_eq!(
            word_hashes("Café, NEWS-42"),
            [general("café"), general("news"), general("42")]
        );
    }

    #[test]
    fn prints_round_trip_through_bytes() {
        let print = TextPrint::of(&text(4, 20)).unwrap();
        let bytes = print.to_bytes();
        assert_eq!(bytes.len(), PRINT_BYTES);
        assert_eq!(TextPrint::from_bytes(&bytes).unwrap(), print);
        assert!(TextPrint::from_bytes(&bytes[1..]).is_err());
    }

    #[test]
    fn few_agreeing_slots_count_as_nothing() {
        let a = TextPrint::of(&text(5, 40)).unwrap();
        let mut b = a;
        for slot in b.slots.iter_mut().skip(MIN_AGREEING_SLOTS - 1) {
            *slot = slot.wrapping_add(1);
        }
        assert_eq!(a.agreeing(&b), MIN_AGREEING_SLOTS - 1);
        assert_eq!(a.similarity(&b), 0.0);
        b.slots[MIN_AGREEING_SLOTS - 1] = a.slots[MIN_AGREEING_SLOTS - 1];
        assert!(a.similarity(&b) > 0.0);
    }
}
