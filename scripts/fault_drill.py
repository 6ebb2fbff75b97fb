#!/usr/bin/env python3
"""Fault drills against feedfarm on loopback: nothing may be lost.

    scripts/fault_drill.py [--scenario kill|faulty] [--feeds 30] [--items 20] [--port 8089]

`kill` (issue 5's acceptance): the farm reveals one item per feed every
second; `feedwire run` (feed interval 1 s), then:
  at  6 s  kill -9, and start the worker again;
  at 12 s  `rabbitmqctl close_all_connections` (the worker must keep running);
  at 20 s  SIGTERM (the worker must exit 0 within the grace period);
then a final `run --once` against the same farm.

`faulty` (issue 4's acceptance): the farm fails 20% of requests (500/503 with
Retry-After), is slow on 5%, truncates 5% and sends garbage on 5%, revealing
an item per feed every 2 s; `feedwire run` (feed interval 2 s) for 60 s, then
SIGTERM (must exit 0); then the farm is served again without faults and a
`run --once` must complete the set.

Every item the farm served (GET /__served) must be published; duplicates are
counted and reported. Measuring only: the project does not depend on it.
"""
import argparse
import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", choices=["kill", "faulty"], default="kill")
    ap.add_argument("--feeds", type=int, default=30)
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--port", type=int, default=8089)
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--binary", default=str(ROOT / "target/release/feedwire"))
    ap.add_argument("--workdir", default="/tmp/feedwire-fault-drill")
    args = ap.parse_args()
    tool = Path(args.shared) / "tools/feedfarm.py"
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    for f in work.glob("state.db*"):
        f.unlink()
    farm_dir = work / "farm"
    if not (farm_dir / "farm.json").exists():
        subprocess.run([sys.executable, tool, "generate", "--pages",
                        str(Path(args.shared) / "data/extraction/*/source.html"), "--out", str(farm_dir),
                        "--feeds", str(args.feeds), "--items", str(args.items)], check=True)
    base = f"http://127.0.0.1:{args.port}"
    faulty = args.scenario == "faulty"
    every = "2" if faulty else "1"
    faults = ["--fail-rate", "0.2", "--slow-rate", "0.05", "--truncate-rate", "0.05", "--garbage-rate", "0.05"]

    def serve(with_faults, grow=True):
        command = [sys.executable, tool, "serve", "--dir", str(farm_dir), "--port", str(args.port)]
        command += (["--grow-every", every] if grow else []) + (faults if with_faults else [])
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        return server

    farm = serve(faulty)
    tag = f"feedwire.drill.{int(time.time())}"
    farm_json = json.load(open(farm_dir / "farm.json"))
    feeds = "".join(f'\n[[feeds]]\nid = "{fd["id"]}"\nurl = "{base}/feeds/{fd["id"]}.xml"\ninterval = "{every}s"\n'
                    for fd in farm_json["feeds"])
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
[pipeline]
shutdown_grace = "25s"
{feeds}''')
    log = open(work / "worker.log", "w")

    def start():
        return subprocess.Popen([args.binary, "run", "--config", str(config)], stderr=log, stdout=subprocess.DEVNULL)

    report = []
    t0 = time.time()
    worker = start()
    alive = True
    if faulty:
        time.sleep(60)
        alive = worker.poll() is None
        report.append(f"{time.time() - t0:5.1f}s worker still running under faults: {alive}")
    else:
        time.sleep(6)
        worker.kill()
        worker.wait()
        report.append(f"{time.time() - t0:5.1f}s kill -9")
        worker = start()
        time.sleep(max(0, 12 - (time.time() - t0)))
        closed = subprocess.run(["rabbitmqctl", "close_all_connections", "drill"], capture_output=True, text=True)
        report.append(f"{time.time() - t0:5.1f}s close_all_connections (exit {closed.returncode})")
        time.sleep(2)
        alive = worker.poll() is None
        report.append(f"{time.time() - t0:5.1f}s worker still running after the close: {alive}")
        time.sleep(max(0, 20 - (time.time() - t0)))
    t_term = time.time()
    worker.send_signal(signal.SIGTERM)
    code = worker.wait(timeout=60)
    report.append(f"{time.time() - t0:5.1f}s SIGTERM -> exit {code} after {time.time() - t_term:.1f}s")
    if faulty:
        # Then the whole farm, without faults or growth: the set to complete.
        served_under_faults = served_items(base)
        stats = urllib.request.urlopen(base + "/__stats").read().decode()
        farm.terminate()
        farm.wait()
        farm = serve(False, grow=False)
        report.append(f"farm under faults served {len(served_under_faults)} stories; {stats}")
    once = subprocess.run([args.binary, "run", "--once", "--config", str(config)], capture_output=True, text=True)
    report.append(f"final run --once: exit {once.returncode}")
    log.close()
    failed_polls = (work / "worker.log").read_text().count("feed poll failed")
    report.append(f"worker logged {failed_polls} failed polls")

    # The faulty scenario ends on the whole farm: every item of every feed.
    served = {i for fd in farm_json["feeds"] for i in fd["items"]} if faulty else served_items(base)
    farm.terminate()
    drained = subprocess.run(["cargo", "run", "-q", "--release", "--example", "consumer", "--",
                              "--queue", tag, "--idle-exit", "3"], cwd=ROOT, capture_output=True, text=True)
    messages = [json.loads(l) for l in drained.stdout.splitlines() if l.strip()]
    subprocess.run(["rabbitmqctl", "delete_queue", tag], capture_output=True)
    per_item = {}
    for m in messages:
        match = re.search(r"/news/p(\d+)$", m["body"]["url"])
        if match:
            per_item[int(match.group(1))] = per_item.get(int(match.group(1)), 0) + 1
    # The consumer drops repeated message_ids; it reports how many on stderr.
    dup_line = drained.stderr.strip().splitlines()[-1] if drained.stderr.strip() else ""
    lost = sorted(served - per_item.keys())
    for line in report:
        print(line)
    print(f"served {len(served)} stories; published {len(per_item)}; lost {len(lost)} {lost[:10]}")
    print(f"consumer: {dup_line}")
    ok = alive and code == 0 and once.returncode == 0 and not lost
    print("RESULT:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


def served_items(base):
    body = urllib.request.urlopen(base + "/__served").read().decode()
    return {json.loads(line)["item"] for line in body.splitlines() if line}


if __name__ == "__main__":
    sys.exit(main())
