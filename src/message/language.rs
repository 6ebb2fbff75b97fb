//! The story's language: the page's declaration when it has one, else
//! detected from the text (whatlang; why not lingua: docs/benchmarks.md,
//! "Language detection").

use serde::{Deserialize, Serialize};

use crate::text::truncate_at_char_boundary;

/// Where the message's `language` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LanguageSource {
    /// The page declared it (`<html lang>`, JSON-LD `inLanguage`, ...).
    Declared,
    /// Detected from the title and the text.
    Detected,
}

/// Detection looks at no more than this much of the title and text: time
/// stays bounded (about 0.1 ms for a title and a paragraph), and a news
/// story's language shows in its first lines.
pub const MAX_DETECT_BYTES: usize = 600;

/// The language of a story's title and text as an ISO 639-1 code, or none
/// when the detector is not confident (short or mixed text).
pub fn detect(title: Option<&str>, text: &str) -> Option<&'static str> {
    let sample = match title.filter(|t| !t.trim().is_empty()) {
        Some(title) => format!(
            "{title}\n\n{}",
            truncate_at_char_boundary(text, MAX_DETECT_BYTES)
        ),
        None => text.to_string(),
    };
    let info = whatlang::detect(truncate_at_char_boundary(&sample, MAX_DETECT_BYTES))?;
    info.is_reliable().then(|| iso_639_1(info.lang()))
}

/// ISO 639-1 for every language whatlang knows (all have one); its own ISO
/// 639-3 code for any it may add.
fn iso_639_1(lang: whatlang::Lang) -> &'static str {
    use whatlang::Lang::*;
    match lang {
        Epo => "eo",
        Eng => "en",
        Rus => "ru",
        Cmn => "zh",
        Spa => "es",
        Por => "pt",
        Ita => "it",
        Ben => "bn",
        Fra => "fr",
        Deu => "de",
        Ukr => "uk",
        Kat => "ka",
        Ara => "ar",
        Hin => "hi",
        Jpn => "ja",
        Heb => "he",
        Yid => "yi",
        Pol => "pl",
        Amh => "am",
        Jav => "jv",
        Kor => "ko",
        Nob => "nb",
        Dan => "da",
        Swe => "sv",
        Fin => "fi",
        Tur => "tr",
        Nld => "nl",
        Hun => "hu",
        Ces => "cs",
        Ell => "el",
        Bul => "bg",
        Bel => "be",
        Mar => "mr",
        Kan => "kn",
        Ron => "ro",
        Slv => "sl",
        Hrv => "hr",
        Srp => "sr",
        Mkd => "mk",
        Lit => "lt",
        Lav => "lv",
        Est => "et",
        Tam => "ta",
        Vie => "vi",
        Urd => "ur",
        Tha => "th",
        Guj => "gu",
        Uzb => "uz",
        Pan => "pa",
        Aze => "az",
        Ind => "id",
        Tel => "te",
        Pes => "fa",
        Mal => "ml",
        Ori => "or",
        Mya => "my",
        Nep => "ne",
        Sin => "si",
        Khm => "km",
        Tuk => "tk",
        Aka => "ak",
        Zul => "zu",
        Sna => "sn",
        Afr => "af",
        Lat => "la",
        Slk => "sk",
        Cat => "ca",
        Tgl => "tl",
        Hye => "hy",
        #[allow(unreachable_patterns)]
        other => other.code(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_news_text_in_iso_639_1() {
        let cases = [
            (
                "Harbour town votes to rebuild its flooded sea wall",
                "Residents of a small harbour town have voted to rebuild the sea wall that \
                 failed during last winter's storms, after a public meeting on Tuesday.",
                "en",
            ),
            (
                "La mairie vote la reconstruction de la digue",
                "Les habitants de la petite ville portuaire ont voté mardi pour reconstruire \
                 la digue emportée par les tempêtes de l'hiver dernier.",
                "fr",
            ),
            (
                "Hafenstadt stimmt für den Wiederaufbau der Ufermauer",
                "Die Bewohner der kleinen Hafenstadt haben am Dienstag beschlossen, die im \
                 letzten Winter von Stürmen zerstörte Ufermauer wieder aufzubauen.",
                "de",
            ),
        ];
        for (title, text, lang) in cases {
            assert_eq!(detect(Some(title), text), Some(lang), "{title}");
        }
    }

    #[test]
    fn nothing_when_unreliable() {
        assert_eq!(detect(None, ""), None);
        assert_eq!(detect(Some("  "), "OK"), None);
        assert_eq!(detect(None, "12:30 — 4-2 (3-1)"), None);
    }

    #[test]
    fn looks_at_a_bounded_prefix() {
        // An English opening decides, whatever follows it.
        let text = format!(
            "{} {}",
            "The council voted on Tuesday to approve the new cycle lanes after months of debate. "
                .repeat(8),
            "Der Stadtrat hat am Dienstag die neuen Radwege nach monatelanger Debatte genehmigt. "
                .repeat(200)
        );
        assert_eq!(detect(None, &text), Some("en"));
    }
}
