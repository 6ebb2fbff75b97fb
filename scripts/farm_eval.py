#!/usr/bin/env python3
"""Acceptance run against a feedfarm (../shared/tools/feedfarm.py) on loopback.

    scripts/farm_eval.py --farm /tmp/farm30 --base http://127.0.0.1:8088

Writes a config for the farm's feeds (with a fresh exchange and a durable
capture queue), runs `feedwire run --once`, drains the queue with
examples/consumer.rs, and checks: every item the farm served is published
exactly once, every message has the v1 fields and AMQP properties, a second
`run --once` publishes nothing, and the stories of items that show one page
(the farm serves each page under several URLs and feeds) are that page's
first story and its copies: `duplicate_of` names a story of the same
article, one `cluster` per page. It scores each message's text against the
page's expected text with ../shared/tools/score_extraction.py (same metric
as extract_eval.py). Measuring only: the project does not depend on it.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = ["schema", "id", "event", "revision", "url", "title", "text", "summary", "authors",
            "published_at", "updated_at", "fetched_at", "language", "image", "feed", "guid",
            "content_hash", "word_count", "extraction"]


def sh(cmd, **kw):
    return subprocess.run(cmd, check=False, text=True, capture_output=True, **kw)


def drain(queue):
    out = sh(["cargo", "run", "-q", "--release", "--example", "consumer", "--",
              "--queue", queue, "--idle-exit", "3"], cwd=ROOT)
    if out.returncode != 0:
        sys.exit(f"consumer failed: {out.stderr}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def near_duplicates(farm, per_item, expected_f1):
    """The farm shows each of its pages under several items (other URLs, other
    feeds): every story after a page's first must name in `duplicate_of` a
    story of that page, or of another capture of the same article (expected
    texts alike: `expected_f1(page, page) >= 0.9`), and all share one cluster."""
    by_page, page_of = {}, {}
    for item, bodies in per_item.items():
        origin = farm["items"][item]["origin"]
        by_page.setdefault(origin, []).append(bodies[0])
        page_of[bodies[0]["id"]] = origin
    counts = {"pages": len(by_page), "originals": 0, "copies flagged": 0,
              "copies of another capture of the article": 0, "copies pointing elsewhere": 0,
              "copies not flagged": 0, "pages with several clusters": 0}
    for origin, bodies in by_page.items():
        ids = {b["id"] for b in bodies}
        flagged = [b for b in bodies if b.get("duplicate_of")]
        counts["originals"] += len(bodies) - len(flagged)
        counts["copies flagged"] += len(flagged)
        for b in flagged:
            named = page_of.get(b["duplicate_of"]["id"])
            if b["duplicate_of"]["id"] in ids:
                continue
            if named and expected_f1(origin, named) >= 0.9:
                counts["copies of another capture of the article"] += 1
            else:
                counts["copies pointing elsewhere"] += 1
                print(f"  {b['url']} names {b['duplicate_of']}")
        counts["copies not flagged"] += max(0, len(bodies) - len(flagged) - 1)
        counts["pages with several clusters"] += len({b.get("cluster") for b in bodies}) > 1
    return counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--farm", required=True)
    ap.add_argument("--base", default="http://127.0.0.1:8088")
    ap.add_argument("--binary", default=str(ROOT / "target/release/feedwire"))
    ap.add_argument("--workdir", default="/tmp/feedwire-farm-eval")
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    args = ap.parse_args()

    sys.path.insert(0, str(Path(args.shared) / "tools"))
    import score_extraction as score  # noqa: E402

    farm = json.load(open(Path(args.farm) / "farm.json"))
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    for f in work.glob("state.db*"):
        f.unlink()
    tag = f"feedwire.eval.{int(time.time())}"
    feeds = "".join(f'\n[[feeds]]\nid = "{fd["id"]}"\nurl = "{args.base}/feeds/{fd["id"]}.xml"\n'
                    for fd in farm["feeds"])
    config = work / "feedwire.toml"
    config.write_text(f'''
[broker]
url = "amqp://guest:guest@127.0.0.1:5672/%2f"
exchange = "{tag}"
[[broker.queues]]
name = "{tag}"
binding = "article.#"
[store]
path = "{work}/state.db"
[fetch]
allow_private_networks = true
[fetch.hosts."127.0.0.1"]
concurrency = 16
interval = "0ms"
{feeds}''')

    t0 = time.time()
    run = sh([args.binary, "run", "--once", "--config", str(config)])
    elapsed = time.time() - t0
    if run.returncode != 0:
        sys.exit(f"run --once exited {run.returncode}: {run.stderr[-2000:]}")
    messages = drain(tag)

    served = [json.loads(l) for l in urllib.request.urlopen(args.base + "/__served").read().decode().splitlines() if l]
    served_items = {row["item"] for row in served}
    per_item = {}
    problems = []
    for m in messages:
        body = m["body"]
        missing = [k for k in REQUIRED if k not in body]
        if missing:
            problems.append(f"{body.get('url')}: missing {missing}")
        if m["delivery_mode"] != 2 or m["content_type"] != "application/json" \
                or m["type"] != f"article.{body['event']}" or not m["timestamp"] \
                or m["message_id"] != f"{body['id']}-r{body['revision']}":
            problems.append(f"{body.get('url')}: AMQP properties {m}")
        match = re.search(r"/news/p(\d+)$", body["url"])
        if not match:
            problems.append(f"unexpected url {body['url']}")
            continue
        per_item.setdefault(int(match.group(1)), []).append(body)
    lost = sorted(served_items - per_item.keys())
    dups = {k: len(v) for k, v in per_item.items() if len(v) > 1}

    rows = []
    statuses = {}
    for item, bodies in per_item.items():
        origin = Path(farm["items"][item]["origin"])
        expected = (Path(args.shared) / "data/extraction" / origin.parent.name / "expected.txt").read_text()
        rows.append(score.tp_fp_fn(expected, bodies[0]["text"]))
        st = bodies[0]["extraction"]["status"]
        statuses[st] = statuses.get(st, 0) + 1
    agg = score.aggregate(rows)
    def expected_text(origin):
        return (Path(args.shared) / "data/extraction" / Path(origin).parent.name / "expected.txt").read_text()

    def expected_f1(a, b):
        return score.aggregate([score.tp_fp_fn(expected_text(a), expected_text(b))])["f1"]

    copies = near_duplicates(farm, per_item, expected_f1)

    again = sh([args.binary, "run", "--once", "--config", str(config)])
    second = drain(tag)
    sh(["rabbitmqctl", "delete_queue", tag])

    print(f"farm: {len(farm['feeds'])} feeds, {len(farm['items'])} unique items; served {len(served_items)}")
    print(f"run --once: {elapsed:.1f} s, exit {run.returncode}; messages {len(messages)}; "
          f"stories {len(per_item)}; lost {len(lost)}; duplicated {len(dups)}; statuses {statuses}")
    print(f"second run --once: exit {again.returncode}; messages {len(second)}")
    print(f"text vs expected: F1 {agg['f1']:.3f} P {agg['precision']:.3f} R {agg['recall']:.3f} n={len(rows)}")
    print("near-duplicates (items showing one page are copies of its first story): "
          + ", ".join(f"{k} {v}" for k, v in copies.items()))
    problems += [f"near-duplicates: {k} {v}" for k, v in copies.items()
                 if k in ("copies pointing elsewhere", "pages with several clusters") and v]
    for p in problems[:10]:
        print("problem:", p)
    ok = not lost and not dups and not problems and not second and agg["f1"] >= 0.90
    print("RESULT:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
