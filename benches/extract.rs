//! Article extraction benchmark on the dev set, one thread.
//!
//!     cargo bench --bench extract -- [--iters 10] [--dir ../shared/data/extraction]
//!                                    [--filter SUBSTRING] [--decode]
//!
//! Reads every `DIR/*/source.html` (page URL from `meta.json`), extracts each
//! page `--iters` times on this thread (after one warm-up pass over all
//! pages) and prints the per-page time percentiles (each page's time is the
//! median of its runs), throughput in MB of HTML per second and the page
//! count. `--decode` includes `decode_html` on the raw bytes in the timing.
//! Exits 0 with a message when the dev set is not there.

use std::path::{Path, PathBuf};
use std::time::Instant;

use feedwire::extract::{decode_html, extract};

struct Args {
    iters: usize,
    dir: PathBuf,
    filter: Option<String>,
    decode: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        iters: 10,
        dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/extraction"),
        filter: None,
        decode: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--iters" => {
                args.iters = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .unwrap_or_else(|| die("--iters N (N > 0)"));
            }
            "--dir" => args.dir = it.next().map_or_else(|| die("--dir PATH"), PathBuf::from),
            "--filter" => args.filter = it.next(),
            "--decode" => args.decode = true,
            _ => {} // cargo bench passes --bench
        }
    }
    args
}

fn die(msg: &str) -> ! {
    eprintln!("bench extract: {msg}");
    std::process::exit(2)
}

struct Page {
    name: String,
    url: Option<url::Url>,
    bytes: Vec<u8>,
    html: String,
}

fn load(dir: &Path, filter: Option<&str>) -> Vec<Page> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("source.html").is_file())
        .filter(|p| filter.is_none_or(|f| p.to_string_lossy().contains(f)))
        .collect();
    dirs.sort();
    dirs.into_iter()
        .filter_map(|d| {
            let bytes = std::fs::read(d.join("source.html")).ok()?;
            let url = std::fs::read(d.join("meta.json"))
                .ok()
                .and_then(|m| serde_json::from_slice::<serde_json::Value>(&m).ok())
                .and_then(|m| m.get("url")?.as_str().and_then(|u| url::Url::parse(u).ok()));
            // The same decoding as the scorer's harness (UTF-8, lossy).
            let html = String::from_utf8_lossy(&bytes).into_owned();
            let name = d.file_name()?.to_string_lossy().into_owned();
            Some(Page {
                name,
                url,
                bytes,
                html,
            })
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn run_once(page: &Page, decode: bool) -> usize {
    let e = if decode {
        let html = decode_html(&page.bytes, Some("text/html"));
        extract(&html, page.url.as_ref())
    } else {
        extract(&page.html, page.url.as_ref())
    };
    e.text.len()
}

fn main() {
    let args = parse_args();
    if !args.dir.is_dir() {
        println!(
            "bench extract: no dev set at {} (../shared is absent); nothing to measure",
            args.dir.display()
        );
        return;
    }
    let pages = load(&args.dir, args.filter.as_deref());
    if pages.is_empty() {
        println!(
            "bench extract: no */source.html under {}; nothing to measure",
            args.dir.display()
        );
        return;
    }
    let total_bytes: usize = pages.iter().map(|p| p.bytes.len()).sum();

    // Warm-up: site rules, selectors and allocator pools.
    let mut sink = 0usize;
    for p in &pages {
        sink = sink.wrapping_add(run_once(p, args.decode));
    }

    let mut per_page: Vec<(f64, &str)> = Vec::with_capacity(pages.len());
    let mut total_s = 0.0;
    let mut runs = vec![0.0f64; args.iters];
    for p in &pages {
        for r in runs.iter_mut() {
            let t = Instant::now();
            sink = sink.wrapping_add(run_once(p, args.decode));
            *r = t.elapsed().as_secs_f64();
        }
        total_s += runs.iter().sum::<f64>();
        runs.sort_by(f64::total_cmp);
        per_page.push((runs[runs.len() / 2] * 1000.0, &p.name));
    }
    let mut ms: Vec<f64> = per_page.iter().map(|(m, _)| *m).collect();
    ms.sort_by(f64::total_cmp);
    let mean = ms.iter().sum::<f64>() / ms.len() as f64;
    let mb_s = (total_bytes * args.iters) as f64 / 1e6 / total_s;

    println!(
        "extract{}: pages {} iters {} html_mb {:.1}",
        if args.decode { " (decode+extract)" } else { "" },
        pages.len(),
        args.iters,
        total_bytes as f64 / 1e6
    );
    println!(
        "ms/page p50 {:.2} p90 {:.2} p99 {:.2} max {:.2} mean {:.2}  MB/s {:.1}",
        percentile(&ms, 50.0),
        percentile(&ms, 90.0),
        percentile(&ms, 99.0),
        ms.last().copied().unwrap_or(0.0),
        mean,
        mb_s
    );
    per_page.sort_by(|a, b| b.0.total_cmp(&a.0));
    let slowest: Vec<String> = per_page
        .iter()
        .take(3)
        .map(|(m, n)| format!("{n} {m:.2}"))
        .collect();
    println!("slowest: {}", slowest.join(", "));
    // Keep the results observable so the work is not optimised away.
    if sink == usize::MAX {
        println!("{sink}");
    }
}
