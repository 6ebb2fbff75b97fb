#!/usr/bin/env python3
"""Politeness per service, measured from a feedfarm's own access log.

    scripts/host_group_eval.py --farm /tmp/farm --binary target/debug/feedwire \
        [--concurrency 2] [--interval 250ms] [--slow-ms 0] [--window 10]

Serves the farm (../shared/tools/feedfarm.py serve --log) on 127.0.0.1 and
spreads its feeds over three host names of one registrable domain
(a.farm.localhost, b.farm.localhost, c.farm.localhost: names under localhost
are the loopback to the worker, without DNS). The farm builds item links
from the request's Host, so each feed's pages come from its feed's host
too. Runs `feedwire run --once --sink stdout` with
`fetch.per_host_concurrency` and `fetch.per_host_interval` as given, then
reads the farm's log (one line per response, to the second) and prints:
the requests, the run's length, and the most responses logged in any
`--window` seconds, next to what one budget for the three hosts allows
(interval: window / interval + 1 starts; slow: concurrency x (window /
slow + 1) completions) and what three budgets would (three times that).
`--split` is the control: each host a group of its own, so three budgets.
Measuring only: the project does not depend on it.
"""
import argparse
import collections
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOSTS = ["a.farm.localhost", "b.farm.localhost", "c.farm.localhost"]


def seconds(text):
    """"250ms" / "1s" / "0s" as seconds."""
    if text.endswith("ms"):
        return float(text[:-2]) / 1000
    if text.endswith("s"):
        return float(text[:-1])
    raise SystemExit(f"--interval: {text} is not like 250ms or 1s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--farm", required=True)
    ap.add_argument("--binary", default=str(ROOT / "target/debug/feedwire"))
    ap.add_argument("--port", type=int, default=8097)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--interval", default="250ms")
    ap.add_argument("--slow-ms", type=int, default=0, help="every farm response waits this long")
    ap.add_argument("--window", type=int, default=10)
    ap.add_argument("--split", action="store_true",
                    help="control: each host its own group (fetch.host_groups), three budgets")
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="feedwire-hostgroups-"))
    log = work / "farm.log"
    serve = [sys.executable, str(Path(args.shared) / "tools/feedfarm.py"), "serve",
             "--dir", args.farm, "--port", str(args.port), "--log", str(log)]
    if args.slow_ms:
        serve += ["--slow-rate", "1", "--slow-ms", str(args.slow_ms)]
    farm = subprocess.Popen(serve, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        feeds = [fd["id"] for fd in json.load(open(Path(args.farm) / "farm.json"))["feeds"]]
        entries = "".join(
            f'\n[[feeds]]\nid = "{fid}"\nurl = "http://{HOSTS[i % 3]}:{args.port}/feeds/{fid}.xml"\n'
            for i, fid in enumerate(feeds))
        split = "".join(f'host_groups.{h.split(".")[0]} = ["{h}"]\n' for h in HOSTS) if args.split else ""
        config = work / "feedwire.toml"
        config.write_text(f'''
[broker]
url = "amqp://guest:guest@127.0.0.1:5672/%2f"
[store]
path = "{work}/state.db"
[fetch]
allow_private_networks = true
per_host_concurrency = {args.concurrency}
per_host_interval = "{args.interval}"
{split}
[pipeline]
story_concurrency = 32
{entries}''')
        t0 = time.time()
        run = subprocess.run([args.binary, "run", "--once", "--sink", "stdout", "--config", str(config)],
                             capture_output=True, text=True)
        elapsed = time.time() - t0
        if run.returncode != 0:
            sys.exit(f"run --once exited {run.returncode}: {run.stderr[-2000:]}")
        messages = [line for line in run.stdout.splitlines() if line.strip()]
    finally:
        farm.terminate()
        farm.wait()

    stamps = []
    for line in log.read_text().splitlines():
        # The farm does not slow its 404s (robots.txt here): with --slow-ms
        # only the slowed responses are counted against the slow bound.
        if args.slow_ms and '" 404 ' in line:
            continue
        h, m, s = (int(x) for x in line[:8].split(":"))
        stamps.append(h * 3600 + m * 60 + s)
    per_second = collections.Counter(stamps)
    first, last = min(stamps), max(stamps)
    busiest = max(sum(per_second.get(t + k, 0) for k in range(args.window))
                  for t in range(first, last + 1))
    interval = seconds(args.interval)
    bounds = []
    if interval > 0:
        bounds.append(args.window / interval + 1)
    if args.slow_ms:
        bounds.append(args.concurrency * (args.window / (args.slow_ms / 1000) + 1))
    one_budget = min(bounds) if bounds else float("inf")
    print(f"binary: {args.binary}")
    print(f"hosts: {', '.join(HOSTS)} (one registrable domain: farm.localhost)")
    print(f"concurrency {args.concurrency}, interval {args.interval}, farm slow {args.slow_ms} ms"
          + (" (control: three groups)" if args.split else ""))
    print(f"messages: {len(messages)}; farm responses counted: {len(stamps)}; run: {elapsed:.1f} s; "
          f"log span: {last - first + 1} s")
    print(f"most responses in any {args.window} s of the farm's log: {busiest}")
    print(f"allowed by one budget for the three hosts: {one_budget:.0f}; by three budgets: {3 * one_budget:.0f}")
    print("HOLDS" if busiest <= one_budget else "EXCEEDED")


if __name__ == "__main__":
    main()
