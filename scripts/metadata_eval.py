#!/usr/bin/env python3
"""Metadata of `feedwire extract` against ../shared/data/articles/*/*/expected.json.

    cargo build --release && scripts/metadata_eval.py [--articles ../shared/data/articles]

Title exact (whitespace normalized), published day (UTC date of the
expected timestamp), authors exact (the list, in order). Prints the share
of each and the misses. Measuring only.
"""
import argparse
import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def norm(text):
    return " ".join((text or "").split())


def day(stamp):
    if not stamp:
        return None
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).date()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=Path, default=ROOT.parent / "shared/data/articles")
    ap.add_argument("--binary", default=str(ROOT / "target/release/feedwire"))
    args = ap.parse_args()
    cases = sorted(p.parent for p in args.articles.glob("*/*/expected.json"))
    expected = {str(c): json.loads((c / "expected.json").read_text()) for c in cases}
    payload = "".join(json.dumps({"id": str(c), "url": expected[str(c)].get("url"),
                                  "html": (c / "page.html").read_bytes().decode("utf-8", "replace")}) + "\n"
                      for c in cases).encode()
    out = subprocess.run([args.binary, "extract", "--jsonl"], input=payload, capture_output=True, check=True)
    got = {row["id"]: row for row in map(json.loads, out.stdout.decode().splitlines())}
    checks = {
        "title exact": lambda e, g: norm(e.get("title")) == norm(g.get("title")),
        "published day": lambda e, g: day(e.get("published")) == day(g.get("published_at")),
        "authors exact": lambda e, g: [norm(a) for a in e.get("authors") or []]
        == [norm(a) for a in g.get("authors") or []],
    }
    for name, check in checks.items():
        misses = [c for c in expected if not check(expected[c], got.get(c, {}))]
        share = 100 * (len(expected) - len(misses)) / len(expected)
        print(f"{name:14} {share:5.1f}%  ({len(expected) - len(misses)}/{len(expected)})")
        for c in misses:
            rel = Path(c).relative_to(args.articles)
            field = {"title exact": ("title", "title"), "published day": ("published", "published_at"),
                     "authors exact": ("authors", "authors")}[name]
            print(f"    {rel}: expected {expected[c].get(field[0])!r} got {got.get(c, {}).get(field[1])!r}")


if __name__ == "__main__":
    main()
