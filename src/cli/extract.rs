//! `feedwire extract`: the extractor on saved pages, one or a stream.

use std::io::{BufRead, Read, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use feedwire::extract;
use serde::{Deserialize, Serialize};

#[derive(clap::Args)]
pub(super) struct ExtractArgs {
    /// The page's URL (resolves relative links, picks site rules).
    #[arg(long)]
    url: Option<String>,
    /// Read {"id","url","html"} lines on stdin, write one result per line.
    #[arg(long)]
    jsonl: bool,
    file: Option<PathBuf>,
}

#[derive(Deserialize)]
struct ExtractRequest {
    id: serde_json::Value,
    url: Option<String>,
    html: String,
}

#[derive(Serialize)]
struct ExtractResponse<'a> {
    id: &'a serde_json::Value,
    /// Time spent in `extract::extract` alone (no JSON in or out), so that
    /// per-page speed can be compared with another extractor's.
    extract_ms: f64,
    #[serde(flatten)]
    extracted: &'a extract::Extracted,
}

pub(super) fn extract(args: ExtractArgs) -> Result<()> {
    let ExtractArgs { url, jsonl, file } = args;
    let base = url
        .as_deref()
        .map(url::Url::parse)
        .transpose()
        .context("--url is not an absolute URL")?;
    if jsonl {
        let stdin = std::io::stdin().lock();
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for line in stdin.lines() {
            let line = line.context("reading stdin")?;
            if line.trim().is_empty() {
                continue;
            }
            let request: ExtractRequest = match serde_json::from_str(&line) {
                Ok(request) => request,
                Err(e) => {
                    eprintln!("feedwire extract: skipping a line that is not a request: {e}");
                    continue;
                }
            };
            let page_url = request
                .url
                .as_deref()
                .and_then(|u| url::Url::parse(u).ok())
                .or_else(|| base.clone());
            let started = std::time::Instant::now();
            let extracted = extract::extract(&request.html, page_url.as_ref());
            let extract_ms = started.elapsed().as_secs_f64() * 1000.0;
            serde_json::to_writer(
                &mut out,
                &ExtractResponse {
                    id: &request.id,
                    extract_ms,
                    extracted: &extracted,
                },
            )?;
            out.write_all(b"\n")?;
            out.flush()?;
        }
        return Ok(());
    }
    let mut bytes = Vec::new();
    match file.as_deref() {
        None => anyhow::bail!("give a FILE (or - for stdin), or --jsonl"),
        Some(path) if path.as_os_str() == "-" => {
            std::io::stdin().read_to_end(&mut bytes)?;
        }
        Some(path) => {
            bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        }
    }
    let html = extract::decode_html(&bytes, None);
    let extracted = extract::extract(&html, base.as_ref());
    writeln!(std::io::stdout().lock(), "{}", extracted.text)?;
    Ok(())
}
