"""Whole-process time of `rnntag tag` for each `--threads` value, on an idle machine and
beside one other CPU-bound torch process (a laptop with a browser busy), to check that the
default (0: half the cores, 1 to 4) is within 10% of the best value in both.

    python benchmarks/threads.py ../shared/data/conll2003/eng.testa --threads 1 2 --rounds 3

The file is tagged as tokens (`--input tokens`, a sentence per line, written once to a
temporary file) with the NER model. Rounds alternate the values, so that a drift of the
machine's load touches all alike; each figure is a median over the rounds. Not run by CI.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from speed import conll_sentences

RNNTAG = [sys.executable, "-m", "rnntag"]
# One other busy process: matrix products on two threads, for at most `BUSY_SECONDS`.
BUSY = (
    "import time, torch\n"
    "torch.set_num_threads(2)\n"
    "a = torch.randn(512, 512)\n"
    "end = time.time() + {seconds}\n"
    "while time.time() < end:\n"
    "    a = torch.tanh(a @ a)\n"
)
BUSY_SECONDS = 900


def tag_seconds(source: Path, model: str, threads: int) -> float:
    """Seconds of one whole `rnntag tag` process."""
    command = [*RNNTAG, "tag", "-m", model, "--input", "tokens", "--threads", str(threads)]
    started = time.perf_counter()
    with source.open("rb") as stdin:
        subprocess.run(command, stdin=stdin, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("conll", help="CoNLL file whose sentences are tagged as tokens")
    parser.add_argument("--model", default="ner")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    values = [0, *args.threads]
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "tokens.txt"
        source.write_text("".join(" ".join(s) + "\n" for s in conll_sentences(args.conll)))
        results = {}
        for situation in ("idle", "beside a busy process"):
            busy = None
            if situation != "idle":
                code = BUSY.format(seconds=BUSY_SECONDS)
                busy = subprocess.Popen([sys.executable, "-c", code])
                time.sleep(2)
            try:
                times: dict[int, list[float]] = {v: [] for v in values}
                for _ in range(args.rounds):
                    for value in values:
                        times[value].append(tag_seconds(source, args.model, value))
            finally:
                if busy is not None:
                    busy.kill()
                    busy.wait()
            medians = {v: statistics.median(t) for v, t in times.items()}
            best = min(medians.values())
            results[situation] = {
                f"--threads {v}": {"seconds": round(s, 2), "to the best": round(s / best, 3)}
                for v, s in medians.items()
            }
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
