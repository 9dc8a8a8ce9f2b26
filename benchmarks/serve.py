"""Serving speed: requests/s and latency of one-sentence `POST /tag` requests to `rnntag serve`,
from one client and from several at once, against one `rnntag tag` process per sentence (what
a user without the server pays). Not run by CI; talks to 127.0.0.1 only.

    python benchmarks/serve.py --conllu ../shared/data/ud-english-ewt/en_ewt-ud-dev.conllu
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit


def sentences_of(path: str) -> list[str]:
    """The `# text` of every sentence of a CoNLL-U file."""
    with open(path, encoding="utf-8") as lines:
        return [line[len("# text = ") :].strip() for line in lines if line.startswith("# text = ")]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def timed_requests(host: str, port: int, texts: list[str], models: list[str]) -> list[float]:
    """Send each text as one request on one kept-alive connection; seconds each took."""
    seconds = []
    with contextlib.closing(http.client.HTTPConnection(host, port, timeout=60)) as connection:
        for text in texts:
            body = json.dumps({"text": text, "models": models}).encode()
            start = time.perf_counter()
            connection.request("POST", "/tag", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            seconds.append(time.perf_counter() - start)
            if response.status != 200:
                raise SystemExit(f"status {response.status} for {text!r}")
    return seconds


def load(host: str, port: int, texts: list[str], models: list[str], clients: int) -> dict:
    shares = [texts[k::clients] for k in range(clients)]
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = [
            s
            for share in pool.map(lambda t: timed_requests(host, port, t, models), shares)
            for s in share
        ]
    wall = time.perf_counter() - start
    return {
        "clients": clients,
        "requests": len(texts),
        "requests_per_second": len(texts) / wall,
        "p50_ms": 1000 * percentile(latencies, 0.5),
        "p99_ms": 1000 * percentile(latencies, 0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conllu", required=True, help="CoNLL-U file whose # text lines are sent")
    parser.add_argument("--requests", type=int, default=2000, help="requests per load")
    parser.add_argument(
        "--clients", type=int, default=8, help="concurrent clients of the second load"
    )
    parser.add_argument("--processes", type=int, default=10, help="`rnntag tag` processes timed")
    parser.add_argument("--model", "-m", action="append", help="models (default: pos and ner)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    models = args.model or ["pos", "ner"]
    texts = sentences_of(args.conllu)
    texts = (texts * (args.requests // len(texts) + 1))[: args.requests]
    flags = [part for model in models for part in ("-m", model)]
    server = subprocess.Popen(
        [sys.executable, "-m", "rnntag", "serve", "--port", "0", *flags],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        url = server.stderr.readline().split(" on ")[-1].strip()
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 0
        timed_requests(host, port, texts[:50], models)  # warm-up
        results = {
            "one_client": load(host, port, texts, models, 1),
            "clients": load(host, port, texts, models, args.clients),
        }
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    process_seconds = []
    for text in texts[: args.processes]:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "rnntag", "tag", "--output", "jsonl", *flags],
            input=text,
            capture_output=True,
            text=True,
            check=True,
        )
        process_seconds.append(time.perf_counter() - start)
    median = statistics.median(process_seconds)
    results["process_per_sentence"] = {"seconds": median, "requests_per_second": 1 / median}
    print(f"{'what':<34} {'requests/s':>11} {'p50 ms':>8} {'p99 ms':>8}")
    for name, row in (
        ("one client", results["one_client"]),
        (f"{args.clients} clients", results["clients"]),
    ):
        rate, p50, p99 = row["requests_per_second"], row["p50_ms"], row["p99_ms"]
        print(f"{'serve, ' + name:<34} {rate:>11.1f} {p50:>8.1f} {p99:>8.1f}")
    print(f"{'one rnntag tag process a sentence':<34} {1 / median:>11.2f} {1000 * median:>8.0f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=1)


if __name__ == "__main__":
    main()
