"""Wall time of the cascade against the local test server with 100 ms latency per request, by --concurrency.

Run: OMP_NUM_THREADS=1 .venv/bin/python tests/freegens/bench_cascade_concurrency.py   (not collected by pytest)
The first run in the process also pays lingua's language-model load (~4 s).
"""
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the test server lives in conftest.py
from conftest import SAMPLE_DOCS, ChatServer  # noqa: E402

from freegens.domains_cli import classify_main  # noqa: E402


def main() -> None:
    d = tempfile.mkdtemp()
    docs = os.path.join(d, "docs.jsonl")
    with open(docs, "w") as fh:
        for i in range(4):
            for k, v in SAMPLE_DOCS.items():
                fh.write(json.dumps({"id": f"{k}-{i}", "text": f"{v} (copy {i})"}) + "\n")
    server = ChatServer()
    server.delay = 0.1
    server.thread.start()
    try:
        for conc in (1, 4, 16):
            server.reset_counts()
            server.max_inflight = 0
            out = os.path.join(d, f"out{conc}.csv")
            t = time.time()
            classify_main(["--input", docs, "--output", out, "--base_url", server.base_url, "--model", "m",
                           "--languages", "en,de,fr", "--concurrency", str(conc)])
            print(f"concurrency {conc}: {server.answered} requests in {time.time() - t:.2f} s; "
                  f"max in flight {server.max_inflight}", flush=True)
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


if __name__ == "__main__":
    main()
