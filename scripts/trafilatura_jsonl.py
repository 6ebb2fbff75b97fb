#!/usr/bin/env python3
"""Run trafilatura behind the extract_eval.py contract, as a peer to measure.

Reads JSON lines {"id", "url", "html"} on stdin and writes one line
{"id", "text"} per input on stdout, flushed per line:

    python3 ../shared/tools/extract_eval.py ../shared/data/extraction \
        --cmd 'python3 scripts/trafilatura_jsonl.py'

Needs `pip install trafilatura lxml_html_clean` (recent lxml split the cleaner
that trafilatura's justext fallback imports). Defaults: main text only (no comments, no
tables), plain text output, trafilatura's own precision/recall balance.
"""
import json
import sys

import trafilatura


def main() -> int:
    out = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        row = json.loads(line)
        text = ""
        try:
            text = trafilatura.extract(
                row.get("html") or "",
                url=row.get("url"),
                include_comments=False,
                include_tables=False,
                output_format="txt",
            ) or ""
        except Exception as exc:  # one bad page must not stop the run
            print(f"trafilatura failed on {row.get('id')}: {exc}", file=sys.stderr)
        out.write(json.dumps({"id": row.get("id"), "text": text}) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
