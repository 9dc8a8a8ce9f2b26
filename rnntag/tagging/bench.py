"""Tagging speed, measured stage by stage on a real input."""

from __future__ import annotations

import resource
import sys
import time
from typing import Any

import torch

from rnntag.io.corpus import Format, open_text, read_sentences
from rnntag.tagging.output import render
from rnntag.tagging.run import Tagging


def benchmark(
    models: list[str],
    path: str,
    input_format: Format,
    encoding: str = "utf-8",
    device: str = "auto",
) -> dict[str, Any]:
    """Tag a file as `rnntag tag` does, through the same `Tagging` (CoNLL output rendered and
    discarded), timing each stage.

    Args:
        models: Model names or directories.
        path: Input file.
        input_format: text, tokens, conll or conllu.
        encoding: Encoding of the input.
        device: auto, cpu or cuda.

    Returns:
        Tokens, sentences, seconds per stage (encode: strings to tensors; network:
        embeddings, BiRNN and emissions; decode: Viterbi or arg-max; tags: indices to tag
        strings in the output scheme; write: CoNLL output; read: the rest, reading and
        tokenising), tokens and sentences per second, and peak memory in MB; models load
        before the clock starts.
    """
    seconds = dict.fromkeys(("read", "encode", "network", "decode", "tags", "write"), 0.0)
    tokens = sentences = 0
    with Tagging(models, None, device) as tagging:
        started = time.perf_counter()
        for chunk, columns in tagging.tag_file(path, input_format, encoding, stages=seconds):
            mark = time.perf_counter()
            render(chunk, columns, "conll", "upos")
            seconds["write"] += time.perf_counter() - mark
            tokens += sum(len(s.tokens) for s in chunk)
            sentences += len(chunk)
        total = time.perf_counter() - started
        device_type = next(tagging.taggers[0].model.parameters()).device.type
    seconds["read"] = max(0.0, total - sum(seconds.values()))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (
        1024 if sys.platform != "darwin" else 1024**2
    )
    return {
        "tokens": tokens,
        "sentences": sentences,
        "seconds": round(total, 3),
        "tokens_per_second": round(tokens / total),
        "sentences_per_second": round(sentences / total),
        "stage_seconds": {k: round(v, 3) for k, v in seconds.items()},
        "peak_memory_mb": round(peak),
        "threads": torch.get_num_threads(),
        "device": device_type,
    }


def tokenization_scores(path: str) -> dict[str, Any]:
    """Precision, recall and F1 of the plain-text tokeniser against the words of a CoNLL-U
    file, each sentence tokenised from its `# text` comment.

    A word counts as found when a predicted token has exactly its character span. Words
    whose form cannot be found in the text (rare spelling normalisations) count as missed.

    Args:
        path: CoNLL-U file with `# text` comments.

    Returns:
        {"sentences", "gold", "predicted", "correct", "precision", "recall", "f1"}.
    """
    from rnntag.io.text import split_text

    gold_total = predicted_total = correct = sentences = 0
    with open_text(path) as stream:
        for sentence in read_sentences(stream, path, "conllu"):
            assert sentence.conllu is not None
            text = sentence.conllu.metadata.get("text")
            if text is None:
                continue
            sentences += 1
            spans, position = set(), 0
            for word in sentence.tokens:
                found = text.find(word, position)
                if found >= 0:
                    spans.add((found, found + len(word)))
                    position = found + len(word)
            predicted = {(t.start, t.end) for tokens in split_text(text) for t in tokens}
            gold_total += len(sentence.tokens)
            predicted_total += len(predicted)
            correct += len(spans & predicted)
    precision = correct / predicted_total if predicted_total else 0.0
    recall = correct / gold_total if gold_total else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "sentences": sentences,
        "gold": gold_total,
        "predicted": predicted_total,
        "correct": correct,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }
