#!/usr/bin/env python3
"""Issue 11's outside checks on the release binary, against a static site on
loopback and the local RabbitMQ:

    cargo build --release --bin feedwire --example consumer
    scripts/identity_drill.py [--rounds 3] [--items 400]

1. Returns are never credited to another story: two feeds of N items, one
   whose routing key a queue is bound to, one whose key nothing takes. The
   first run publishes exactly the bound feed's N stories (exit 3: the rest
   are unfinished); once a queue is bound for the other feed, the next run
   delivers its N. Repeated with a fresh store each round.
2. Nine items that share links or guids (a status page, a live blog, bare
   guids on two sites) are nine messages; a second run publishes none.
3. A title corrected while the first message cannot be delivered: the
   corrected title is the last message of the story.

Measuring only; the project does not depend on it.
"""
import argparse
import functools
import http.server
import json
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target/release/feedwire"
CONSUMER = ROOT / "target/release/examples/consumer"
BROKER = "amqp://guest:guest@127.0.0.1:5672/%2f"


def serve(directory):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=directory)
    http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def rss(items):
    def item(guid, link, title, description):
        link = f"<link>{link}</link>" if link else ""
        guid = f'<guid isPermaLink="false">{guid}</guid>' if guid else ""
        return f"<item><title>{title}</title>{link}{guid}<description>{description}</description></item>"
    body = "".join(item(*i) for i in items)
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>http://x/</link>{body}</channel></rss>'


def page(title):
    return (f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
            f"<p>{title} is the story of this page, told in a paragraph long enough to keep.</p>"
            "<p>A second paragraph follows, so that there is a body to extract.</p></article></body></html>")


def config(dir, exchange, feeds, queues, extra=""):
    text = f'''[broker]
url = "{BROKER}"
exchange = "{exchange}"
confirm_timeout = "10s"
'''
    for name, binding in queues:
        text += f'[[broker.queues]]\nname = "{name}"\nbinding = "{binding}"\n'
    text += f'''[store]
path = "{dir}/state.db"
[fetch]
allow_private_networks = true
per_host_concurrency = 16
per_host_interval = "0ms"
page_attempts = 1
{extra}
'''
    for fid, url in feeds:
        text += f'[[feeds]]\nid = "{fid}"\nurl = "{url}"\n'
    path = Path(dir) / "feedwire.toml"
    path.write_text(text)
    return str(path)


def run_once(cfg):
    return subprocess.run([BIN, "run", "--once", "--config", cfg], capture_output=True, text=True)


def drain(queue):
    out = subprocess.run([CONSUMER, "--queue", queue, "--idle-exit", "2"],
                         capture_output=True, text=True, env={"FEEDWIRE_BROKER_URL": BROKER})
    if out.returncode != 0:
        sys.exit(f"consumer failed: {out.stderr}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def returns_round(site, base, n):
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as dir:
        feeds = [("bound", f"{base}/bound.xml"), ("unbound", f"{base}/unbound.xml")]
        qa, qb = f"drill.{tag}.bound", f"drill.{tag}.unbound"
        exchange = f"drill.{tag}"
        # Without page fetches the stories reach the broker in bursts: many
        # publishes in flight at once, where a return could be mispaired.
        burst = "[pipeline]\nfetch_full_text = false\nstory_concurrency = 64\n"
        first = run_once(config(dir, exchange, feeds, [(qa, "article.bound")], burst))
        got_a = {m["body"]["id"] for m in drain(qa)}
        second = run_once(config(dir, exchange, feeds, [(qa, "article.bound"), (qb, "article.unbound")], burst))
        got_b = drain(qb)
        unbound_ids = {m["body"]["id"] for m in got_b}
        unbound_urls = {m["body"]["url"] for m in got_b}
        ok = (first.returncode == 3 and len(got_a) == n and second.returncode == 0
              and len(unbound_ids) == n and all("/unbound/" in u for u in unbound_urls))
        print(f"  round: first run exit {first.returncode}, bound queue {len(got_a)}/{n}; "
              f"after binding: exit {second.returncode}, unbound feed {len(unbound_ids)}/{n} "
              f"({len(got_b)} messages) -> {'ok' if ok else 'FAIL'}")
        return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--items", type=int, default=400)
    args = ap.parse_args()
    n = args.items
    with tempfile.TemporaryDirectory() as site:
        base = serve(site)
        s = Path(site)
        for kind in ("bound", "unbound"):
            (s / kind).mkdir()
            items = []
            for i in range(n):
                (s / kind / f"p{i}").write_text(page(f"{kind} story {i}"))
                items.append((f"{kind}-{i}", f"{base}/{kind}/p{i}", f"{kind} story {i}", "summary"))
            (s / f"{kind}.xml").write_text(rss(items))
        results = []
        print(f"1. returns never credited to another story ({args.rounds} rounds, 2 feeds x {n} items)")
        for _ in range(args.rounds):
            results.append(returns_round(site, base, n))

        print("2. nine colliding items")
        (s / "status").write_text(page("status"))
        (s / "live").write_text(page("live"))
        (s / "status.xml").write_text(rss([(f"incident-{i}", f"{base}/status", f"Incident {i}", "x") for i in (1, 2, 3)]))
        (s / "live.xml").write_text(rss([("", f"{base}/live#post-{i}", f"Post {i}", "x") for i in (1, 2)]))
        for site_id in ("a", "b"):
            (s / f"{site_id}.xml").write_text(rss([(g, "", f"{site_id} story {g}", "x") for g in ("1", "2")]))
        tag = uuid.uuid4().hex[:8]
        with tempfile.TemporaryDirectory() as dir:
            q = f"drill.{tag}.nine"
            cfg = config(dir, f"drill.{tag}", [(f, f"{base}/{f}.xml") for f in ("status", "live", "a", "b")],
                         [(q, "article.#")])
            first = run_once(cfg)
            nine = drain(q)
            second = run_once(cfg)
            again = drain(q)
            ok = len({m["body"]["id"] for m in nine}) == 9 and len(nine) == 9 and not again
            print(f"  first run exit {first.returncode}: {len(nine)} messages, "
                  f"{len({m['body']['id'] for m in nine})} stories; second run: {len(again)} -> {'ok' if ok else 'FAIL'}")
            results.append(ok)

        print("3. a title corrected while the first message is undelivered")
        (s / "mayor").write_text(page("mayor"))
        tag = uuid.uuid4().hex[:8]
        with tempfile.TemporaryDirectory() as dir:
            (s / "city.xml").write_text(rss([("m-1", f"{base}/mayor", "Mayor resigns", "x")]))
            q = f"drill.{tag}.city"
            feeds = [("city", f"{base}/city.xml")]
            first = run_once(config(dir, f"drill.{tag}", feeds, []))
            (s / "city.xml").write_text(rss([("m-1", f"{base}/mayor", "Mayor resigns after vote", "x")]))
            second = run_once(config(dir, f"drill.{tag}", feeds, []))
            third = run_once(config(dir, f"drill.{tag}", feeds, [(q, "article.#")]))
            got = drain(q)
            titles = [m["body"]["title"] for m in got]
            ok = bool(titles) and titles[-1] == "Mayor resigns after vote"
            print(f"  exits {first.returncode}, {second.returncode}, {third.returncode}; "
                  f"messages: {titles} -> {'ok' if ok else 'FAIL'}")
            results.append(ok)
    print("all ok" if all(results) else "FAILED")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
