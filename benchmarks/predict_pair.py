"""Two NER models' `predict` in one process, alternated over rounds: the cost of a model's
parts (a document memory, say) without the start-up and file handling that `speed.py` times
around it, and with the documents of a CoNLL file, which `speed.py`'s inputs do not mark.

    python benchmarks/predict_pair.py ../shared/data/conll2003/eng.testa ner OTHER_MODEL

prints, without and with the file's documents, each model's tokens/s (medians) and the
median over the rounds of the second model's speed as a ratio to the first's. Not run by CI.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from rnntag.io.formats import ReadOptions, load_corpus
from rnntag.tagging.predict import FeatureCache, predict
from rnntag.tagging.tagger import Tagger


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("conll", help="CoNLL file whose sentences are tagged")
    parser.add_argument("first", help="a model name or directory")
    parser.add_argument("second", help="the model compared with it")
    parser.add_argument("--copies", type=int, default=2, help="times the file is repeated")
    parser.add_argument("--rounds", type=int, default=9)
    options = parser.parse_args()
    read = load_corpus(options.conll, ReadOptions("conll"))
    sentences = [s.tokens for s in read] * options.copies
    documents = [s.document for s in read] * options.copies
    tokens = sum(len(s) for s in sentences)
    taggers = [Tagger.load(m, torch.device("cpu")) for m in (options.first, options.second)]

    def seconds(tagger: Tagger, marked: list[int | None] | None) -> float:
        # A fresh cache each time, as a new `rnntag tag` process starts with.
        cache = FeatureCache(tagger.model, tagger.encoder)
        start = time.perf_counter()
        predict(tagger.model, tagger.encoder, sentences, cache=cache, documents=marked)
        return time.perf_counter() - start

    for tagger in taggers:
        seconds(tagger, None)
    for name, marked in (("without documents", None), ("with the file's documents", documents)):
        times: list[list[float]] = [[], []]
        for _ in range(options.rounds):
            for mine, tagger in zip(times, taggers, strict=True):
                mine.append(seconds(tagger, marked))
        ratios = sorted(a / b for a, b in zip(*times, strict=True))
        speeds = [round(tokens / statistics.median(t)) for t in times]
        print(
            f"{name}: tokens/s {speeds[0]} and {speeds[1]}; second/first"
            f" {statistics.median(ratios):.3f} (rounds {', '.join(f'{r:.3f}' for r in ratios)})"
        )


if __name__ == "__main__":
    main()
