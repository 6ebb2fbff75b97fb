//! Language detection on short news text: whatlang against lingua (the
//! numbers and the choice: docs/benchmarks.md, "Language detection").
//!
//! Not part of the build: it needs lingua, which the project does not take.
//! Run it as a throwaway crate outside the repository:
//!
//! ```text
//! mkdir -p /tmp/langbench/src && cp scripts/lang_detect_bench.rs /tmp/langbench/src/main.rs
//! cat > /tmp/langbench/Cargo.toml <<'TOML'
//! [package]
//! name = "langbench"
//! version = "0.1.0"
//! edition = "2024"
//! [dependencies]
//! whatlang = "0.16"
//! lingua = "1.7"
//! serde_json = "1"
//! TOML
//! cd /tmp/langbench && cargo build --release
//! D="../shared/data/extraction /tmp/feedwire-cases/extraction-l3s"   # absolute paths
//! CAP=600 ./target/release/langbench $D                # title + first paragraph
//! PARAS=1 CAP=600 ./target/release/langbench $D        # paragraphs, up to 5 a page
//! FULL=1 NO_LOW=1 CAP=600 ./target/release/langbench $D  # title + text, as the worker
//! ```
//!
//! Cases: every page whose `<html lang>` has a two-letter primary subtag,
//! labelled with it, except seven hand-checked pages whose declaration is
//! not the language of their text (`RAW=1` keeps the declared labels).
//! Texts are cut at `CAP` bytes. `WL_ONLY=1` skips lingua.

use std::time::Instant;

fn html_lang(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let start = lower.find("<html")?;
    let end = start + lower[start..].find('>')?;
    let tag = &lower[start..end];
    let i = tag.find(" lang=")? + 6;
    let rest = &tag[i..];
    let rest = rest.trim_start_matches(['"', '\'']);
    let v: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let primary = v.split(['-', '_']).next()?.to_string();
    (primary.len() == 2).then_some(primary)
}

fn cap(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut e = max;
    while !s.is_char_boundary(e) {
        e -= 1;
    }
    &s[..e]
}

fn main() {
    let max: usize = std::env::var("CAP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let mut cases: Vec<(String, String, String)> = Vec::new();
    for dir in std::env::args().skip(1) {
        let mut entries: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        entries.sort_by_key(|e| e.path());
        for e in entries {
            let p = e.path();
            let Ok(html) = std::fs::read(p.join("source.html")) else {
                continue;
            };
            let html = String::from_utf8_lossy(&html);
            let Some(lang) = html_lang(&html) else {
                continue;
            };
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            // Hand-checked: pages whose <html lang> is not the language of their text.
            let corrected = match name.as_str() {
                "fundus-za-Dizindaba_2025_11_16" | "fundus-za-IsolezweLesiXhosa_2025_11_09" => {
                    Some("xh")
                }
                "fundus-za-EyethuNews_2025_11_25"
                | "fundus-za-Ilanga_2025_12_03"
                | "fundus-za-Isolezwe_2025_11_09" => Some("zu"),
                "mozilla-liberation-1" => Some("fr"),
                "l3s-02e622bc-00a7-4b0e-85ef-5a663ef6233c" => Some("en"),
                _ => None,
            };
            let lang = if std::env::var("RAW").is_ok() {
                lang
            } else {
                corrected.map(String::from).unwrap_or(lang)
            };
            let meta: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(p.join("meta.json")).unwrap())
                    .unwrap();
            let title = meta["title"].as_str().unwrap_or("").to_string();
            let expected = std::fs::read_to_string(p.join("expected.txt")).unwrap_or_default();
            let para = expected
                .split("\n")
                .map(str::trim)
                .find(|l| l.len() > 40)
                .unwrap_or("")
                .to_string();
            if std::env::var("PARAS").is_ok() {
                for (i, para) in expected
                    .split("\n")
                    .map(str::trim)
                    .filter(|l| l.chars().count() >= 80)
                    .take(5)
                    .enumerate()
                {
                    cases.push((
                        format!("{name}#{i}"),
                        lang.clone(),
                        cap(para, max).to_string(),
                    ));
                }
                continue;
            }
            // FULL: what the worker looks at, the title and the start of the text.
            let text = if std::env::var("FULL").is_ok() {
                format!("{title}\n\n{expected}")
            } else {
                format!("{title}\n\n{para}")
            };
            cases.push((name, lang, cap(&text, max).to_string()));
        }
    }
    let mut langs = std::collections::BTreeMap::new();
    for c in &cases {
        *langs.entry(c.1.clone()).or_insert(0) += 1;
    }
    println!(
        "cases: {} (cap {max} bytes), by declared language: {langs:?}",
        cases.len()
    );
    let mean_len = cases.iter().map(|c| c.2.chars().count()).sum::<usize>() / cases.len().max(1);
    println!("mean text length: {mean_len} chars");

    let report = |name: &str, f: &dyn Fn(&str) -> Option<String>, setup_ms: f64| {
        let (mut right, mut wrong, mut none) = (0, 0, 0);
        let mut wrongs = Vec::new();
        for (id, lang, text) in &cases {
            match f(text) {
                Some(l) if &l == lang => right += 1,
                Some(l) => {
                    wrong += 1;
                    wrongs.push(format!("{id}:{lang}->{l}"));
                }
                None => none += 1,
            }
        }
        let reps = 20;
        let t = Instant::now();
        for _ in 0..reps {
            for c in &cases {
                std::hint::black_box(f(&c.2));
            }
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / (reps * cases.len()) as f64;
        println!(
            "{name:32} right {right:4} wrong {wrong:3} none {none:3}  accuracy(of all) {:.3}  precision(of answered) {:.3}  {us:8.1} us/text  setup {setup_ms:.0} ms",
            right as f64 / cases.len() as f64,
            right as f64 / (right + wrong).max(1) as f64
        );
        if !wrongs.is_empty() {
            println!("    wrong: {}", wrongs.join(" "));
        }
    };

    // whatlang: every language it knows; reliable only.
    let wl = |t: &str| {
        let info = whatlang::detect(t)?;
        info.is_reliable().then(|| info.lang().code().to_string())
    };
    let wl_any = |t: &str| whatlang::detect(t).map(|i| i.lang().code().to_string());
    let to1 = |c: String| -> String {
        // ISO 639-3 -> 639-1 for the languages in the corpus
        match c.as_str() {
            "eng" => "en",
            "fra" => "fr",
            "spa" => "es",
            "deu" => "de",
            "cmn" => "zh",
            "por" => "pt",
            "jpn" => "ja",
            "hin" => "hi",
            "ces" => "cs",
            "ita" => "it",
            "nld" => "nl",
            "zul" => "zu",
            "xho" => "xh",
            "fin" => "fi",
            "cat" => "ca",
            "lat" => "la",
            "dan" => "da",
            "tgl" => "tl",
            o => o,
        }
        .to_string()
    };
    report("whatlang (reliable only)", &|t| wl(t).map(to1), 0.0);
    for min in [0.1, 0.2, 0.3, 0.5] {
        report(
            &format!("whatlang (confidence >= {min})"),
            &|t| {
                whatlang::detect(t)
                    .filter(|i| i.confidence() >= min)
                    .map(|i| to1(i.lang().code().to_string()))
            },
            0.0,
        );
    }
    report("whatlang (any)", &|t| wl_any(t).map(to1), 0.0);

    if std::env::var("WL_ONLY").is_ok() {
        return;
    }
    use lingua::LanguageDetectorBuilder;
    for (name, low, dist) in [
        ("lingua high, all langs", false, 0.0),
        ("lingua high, min dist 0.1", false, 0.1),
        ("lingua low, all langs", true, 0.0),
        ("lingua low, min dist 0.1", true, 0.1),
    ]
    .into_iter()
    .filter(|c| !c.1 || std::env::var("NO_LOW").is_err())
    {
        let t = Instant::now();
        let mut b = LanguageDetectorBuilder::from_all_languages();
        if low {
            b.with_low_accuracy_mode();
        }
        b.with_minimum_relative_distance(dist);
        b.with_preloaded_language_models();
        let d = b.build();
        let setup = t.elapsed().as_secs_f64() * 1e3;
        let t1 = Instant::now();
        let _ =
            d.detect_language_of("The council voted on Tuesday to approve the new cycle lanes.");
        println!(
            "    {name}: first call {:.0} ms",
            t1.elapsed().as_secs_f64() * 1e3
        );
        report(
            name,
            &|t| {
                d.detect_language_of(t)
                    .map(|l| l.iso_code_639_1().to_string())
            },
            setup,
        );
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let hwm = status
            .lines()
            .find(|l| l.starts_with("VmHWM"))
            .unwrap_or("");
        println!("    after {name}: {hwm}");
    }
}
