"""Would int8 pay? A shipped model in fp32 against torch's dynamic int8 quantisation of its
RNN and linear layers, in one run: dev score, network speed, and how far its predictions
move when the same sentences are batched differently.

    python benchmarks/int8.py pos ../shared/data/ud-english-ewt/en_ewt-ud-dev.conllu
    python benchmarks/int8.py ner ../shared/data/conll2003/eng.testa

Speed here is the network's and decoding's: every form is in the form cache by the timed
passes. rnntag does not offer int8; the README says why. Not run by CI.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
from torch import nn

import rnntag
from rnntag.evaluation.metrics import dev_score
from rnntag.io.formats import load_corpus
from rnntag.tagging.predict import predict
from rnntag.tagging.tagged import Prediction
from rnntag.tagging.tagger import Tagger


def quantise(tagger: Tagger) -> None:
    """Replace the tagger's RNN layers and emission layer by dynamic int8 ones, in place."""
    layers = {nn.LSTM, nn.GRU, nn.Linear}
    model, rnn = tagger.model, tagger.model.rnn
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization warns that it is deprecated
        for name in ("forward_layers", "backward_layers"):
            setattr(rnn, name, torch.ao.quantization.quantize_dynamic(getattr(rnn, name), layers))
        model.emissions = torch.ao.quantization.quantize_dynamic(
            nn.Sequential(model.emissions), layers
        )[0]
    run = rnn.forward
    # The int8 modules have no weights for torch's bidirectional kernel.
    rnn.forward = lambda inputs, mask, padded=True: run(inputs, mask, True)  # type: ignore[method-assign]


def seconds(tagger: Tagger, tokens: list[list[str]]) -> float:
    """Seconds to tag `tokens` once."""
    started = time.perf_counter()
    tagger.predict(tokens)
    return time.perf_counter() - started


def batched(tagger: Tagger, tokens: list[list[str]], max_tokens: int) -> list[Prediction]:
    """Predictions with scores, in batches of at most `max_tokens` tokens."""
    return predict(tagger.model, tagger.encoder, tokens, True, max_tokens=max_tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("dev")
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    sentences = load_corpus(options.dev)
    tokens, gold = [s.tokens for s in sentences], [s.tags or [] for s in sentences]
    taggers = {"fp32": rnntag.load(options.model, "cpu"), "int8": rnntag.load(options.model, "cpu")}
    quantise(taggers["int8"])
    for label, tagger in taggers.items():
        # This first pass also fills the form cache.
        predicted = [p.tags for p in tagger.predict(tokens)]
        score = dev_score(gold, predicted, tagger.output_scheme)[1]
        alone, together = batched(tagger, tokens, 1), batched(tagger, tokens, 4096)
        moved = sum(a.tags != b.tags for a, b in zip(alone, together, strict=True))
        largest = max(
            abs(x - y)
            for a, b in zip(alone, together, strict=True)
            for x, y in zip(a.scores or [], b.scores or [], strict=True)
        )
        print(
            f"{label}: dev score {100 * score:.2f}; batched alone against together,"
            f" {moved} sentences tagged differently, probabilities up to {largest:.4f} apart"
        )
    # Alternated, so that a slow spell of a shared machine slows both.
    rounds = [{k: seconds(t, tokens) for k, t in taggers.items()} for _ in range(options.repeat)]
    count = sum(map(len, tokens))
    for label in taggers:
        speed = statistics.median(count / r[label] for r in rounds)
        print(f"{label}: {speed:,.0f} tokens/s (median of {options.repeat})")
    ratio = statistics.median(r["fp32"] / r["int8"] for r in rounds)
    print(f"int8 against fp32: {ratio:.2f} times as fast (median of the rounds' ratios)")


if __name__ == "__main__":
    main()
