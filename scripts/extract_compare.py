#!/usr/bin/env python3
"""feedwire beside trafilatura on several case folders, in one run.

    cargo build --release
    python3 scripts/extract_compare.py ../shared/data/extraction /tmp/feedwire-cases/extraction-l3s \
        [--fresh] [--worst 15] [--json out.json]

For each case folder (source.html, expected.txt, meta.json per case) both
extractors get every page over the extract_eval.py JSON-lines contract
(`target/release/feedwire extract --jsonl` and `scripts/trafilatura_jsonl.py`),
and both are scored with ../shared/tools/score_extraction.py's functions (bags
of 4-word shingles, F1 of the mean precision and mean recall). Per dataset it
prints F1/P/R of each, and the "far below" count: pages where feedwire's F1 is
under 0.5 while trafilatura's is over 0.9, with their case ids.

trafilatura is slow, so its answers are cached per page (keyed by the
trafilatura version and a hash of id, url and html) under
/tmp/feedwire-compare-cache; `--fresh` runs it on every page again. The cache
only holds a deterministic program's output for identical input; feedwire is
always run anew. Measuring only: needs `pip install trafilatura lxml_html_clean`.
"""
import argparse
import hashlib
import importlib.util
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT.parent / "shared/tools"
CACHE = Path("/tmp/feedwire-compare-cache")


def load_scorer(tools: Path):
    spec = importlib.util.spec_from_file_location("score_extraction", tools / "score_extraction.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load_cases(folder: Path):
    rows = []
    for c in sorted(p for p in folder.iterdir() if (p / "source.html").exists()):
        meta = json.loads((c / "meta.json").read_text()) if (c / "meta.json").exists() else {}
        html = (c / "source.html").read_bytes().decode("utf-8", "replace")
        expected = (c / "expected.txt").read_text(encoding="utf-8")
        rows.append({"id": c.name, "url": meta.get("url"), "html": html, "expected": expected})
    return rows


def run_cmd(cmd, rows):
    payload = "".join(json.dumps({"id": r["id"], "url": r["url"], "html": r["html"]}) + "\n"
                      for r in rows).encode()
    t0 = time.perf_counter()
    proc = subprocess.run(shlex.split(cmd), input=payload, capture_output=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr.decode("utf-8", "replace")[-4000:])
        raise SystemExit(f"{cmd!r} exited {proc.returncode}")
    out = {}
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        if line.strip():
            row = json.loads(line)
            out[row["id"]] = row.get("text") or ""
    return out, wall


def trafilatura_texts(cmd, rows, fresh):
    import trafilatura

    version = getattr(trafilatura, "__version__", "?")
    CACHE.mkdir(parents=True, exist_ok=True)

    def key(r):
        h = hashlib.sha256(f"{version}\0{cmd}\0{r['id']}\0{r['url']}\0".encode() + r["html"].encode())
        return CACHE / f"{h.hexdigest()}.txt"

    texts, todo = {}, []
    for r in rows:
        k = key(r)
        if not fresh and k.exists():
            texts[r["id"]] = k.read_text(encoding="utf-8")
        else:
            todo.append(r)
    wall = 0.0
    if todo:
        got, wall = run_cmd(cmd, todo)
        for r in todo:
            t = got.get(r["id"], "")
            key(r).write_text(t, encoding="utf-8")
            texts[r["id"]] = t
    return texts, len(todo), wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", type=Path, nargs="+")
    ap.add_argument("--feedwire", default=str(ROOT / "target/release/feedwire") + " extract --jsonl")
    ap.add_argument("--trafilatura", default="python3 scripts/trafilatura_jsonl.py")
    ap.add_argument("--tools", type=Path, default=TOOLS, help="folder of score_extraction.py")
    ap.add_argument("--fresh", action="store_true", help="run trafilatura on every page, no cache")
    ap.add_argument("--worst", type=int, default=0, help="list the N pages most below trafilatura")
    ap.add_argument("--json", type=Path, help="write per-case scores here")
    args = ap.parse_args()
    sc = load_scorer(args.tools)

    report = {}
    for folder in args.folders:
        rows = load_cases(folder)
        ours, wall = run_cmd(args.feedwire, rows)
        theirs, ran, twall = trafilatura_texts(args.trafilatura, rows, args.fresh)
        per = {}
        agg = {"feedwire": [], "trafilatura": []}
        for r in rows:
            x = sc.tp_fp_fn(r["expected"], ours.get(r["id"], ""))
            y = sc.tp_fp_fn(r["expected"], theirs.get(r["id"], ""))
            agg["feedwire"].append(x)
            agg["trafilatura"].append(y)
            f = sc.f1_of(sc.precision_score(*x), sc.recall_score(*x))
            g = sc.f1_of(sc.precision_score(*y), sc.recall_score(*y))
            per[r["id"]] = {"feedwire": f, "trafilatura": g,
                            "p": sc.precision_score(*x), "r": sc.recall_score(*x)}
        far = sorted(k for k, v in per.items() if v["feedwire"] < 0.5 and v["trafilatura"] > 0.9)
        print(f"== {folder.name} (n={len(rows)})")
        for name in ("feedwire", "trafilatura"):
            m = sc.aggregate(agg[name])
            extra = f"  {1000 * wall / max(1, len(rows)):.1f} ms/page incl. start-up" if name == "feedwire" \
                else f"  ({ran} pages run now, {len(rows) - ran} from cache)"
            print(f"  {name:12} F1 {m['f1']:.3f} P {m['precision']:.3f} R {m['recall']:.3f}{extra}")
        print(f"  far below (feedwire F1 < 0.5, trafilatura F1 > 0.9): {len(far)}"
              + (f"  {' '.join(far)}" if far else ""))
        if args.worst:
            worst = sorted(per.items(), key=lambda kv: kv[1]["feedwire"] - kv[1]["trafilatura"])
            for k, v in worst[:args.worst]:
                print(f"    {k:50} fw {v['feedwire']:.3f} (P {v['p']:.2f} R {v['r']:.2f})"
                      f"  traf {v['trafilatura']:.3f}")
        report[folder.name] = per
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
