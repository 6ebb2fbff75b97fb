#!/usr/bin/env python3
"""Per-page extraction time of feedwire and trafilatura, in the same run.

    cargo build --release && scripts/extract_speed.py [--cases ../shared/data/extraction] [--rounds 5]

Both extractors get the same pages, one thread each, `--rounds` times in
alternation; a page's time is the fastest of its rounds (the least disturbed
by the rest of the machine), measured inside each process around the
extraction call alone: feedwire's `extract_ms` from `feedwire extract
--jsonl`, trafilatura's `extract()` timed in Python. Prints p50/p90/mean per
extractor and the ratio of the medians. Measuring only: needs
`pip install trafilatura lxml_html_clean`.
"""
import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pages(cases):
    rows = []
    for case in sorted(p for p in cases.iterdir() if (p / "source.html").exists()):
        meta = json.loads((case / "meta.json").read_text()) if (case / "meta.json").exists() else {}
        html = (case / "source.html").read_bytes().decode("utf-8", "replace")
        rows.append({"id": case.name, "url": meta.get("url"), "html": html})
    return rows


def feedwire_round(binary, rows):
    payload = "".join(json.dumps(r) + "\n" for r in rows).encode()
    out = subprocess.run([binary, "extract", "--jsonl"], input=payload, capture_output=True, check=True)
    return {row["id"]: row["extract_ms"] for row in map(json.loads, out.stdout.decode().splitlines()) if row}


def trafilatura_round(rows):
    import trafilatura

    times = {}
    for r in rows:
        t0 = time.perf_counter()
        trafilatura.extract(r["html"], url=r["url"], include_comments=False, include_tables=False,
                            output_format="txt")
        times[r["id"]] = (time.perf_counter() - t0) * 1000
    return times


def summary(name, best):
    values = sorted(best.values())
    p90 = values[int(0.9 * (len(values) - 1))]
    print(f"{name:12} p50 {statistics.median(values):6.2f} ms  p90 {p90:6.2f} ms  "
          f"mean {statistics.fmean(values):6.2f} ms  (n={len(values)})")
    return statistics.median(values)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=Path, default=ROOT.parent / "shared/data/extraction")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--binary", default=str(ROOT / "target/release/feedwire"))
    args = ap.parse_args()
    rows = pages(args.cases)
    best = {"feedwire": {}, "trafilatura": {}}
    for _ in range(args.rounds):
        for name, times in (("feedwire", feedwire_round(args.binary, rows)),
                            ("trafilatura", trafilatura_round(rows))):
            for page, ms in times.items():
                best[name][page] = min(ms, best[name].get(page, float("inf")))
    ours = summary("feedwire", best["feedwire"])
    theirs = summary("trafilatura", best["trafilatura"])
    print(f"median ratio: trafilatura / feedwire = {theirs / ours:.1f}x")


if __name__ == "__main__":
    main()
