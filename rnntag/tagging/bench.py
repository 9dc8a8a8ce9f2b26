"""Tagging speed, measured stage by stage on a real input."""

from __future__ import annotations

import resource
import sys
import time
from typing import Any

import torch

from rnntag.io.formats import Format, ReadOptions, read_sentences
from rnntag.io.source import open_text
from rnntag.tagging.render import render
from rnntag.tagging.run import Tagging


def benchmark(
    models: list[str],
    path: str,
    input_format: Format | None,
    encoding: str = "utf-8",
    device: str = "auto",
) -> dict[str, Any]:
    """Tag a file as `rnntag tag` does, through the same `Tagging` (CoNLL output rendered and
    discarded), timing each stage.

    Args:
        models: Model names or directories.
        path: Input file.
        input_format: text, tokens, conll or conllu; None guesses it from the suffix as
            `rnntag tag` does.
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
    read = ReadOptions(input_format, encoding=encoding)
    with Tagging(models, None, device) as tagging:
        started = time.perf_counter()
        for chunk, columns in tagging.tag_file(path, read, stages=seconds):
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
    """How well the plain-text splitter finds the words and the sentences of a CoNLL-U file.

    Words: each sentence is tokenised from its `# text` comment; a word counts as found when
    a predicted token has exactly its character span (words whose form cannot be found in
    the text, rare spelling normalisations, count as missed). Sentences: the texts of each
    document (`# newdoc`) are joined by single spaces and split again; a sentence end counts
    as found when a predicted sentence ends at the same character. Ends of documents are
    left out, being given.

    Args:
        path: CoNLL-U file with `# text` comments.

    Returns:
        {"sentences", "gold", "predicted", "correct", "precision", "recall", "f1"} for the
        words, and the same counts for the ends of sentences under "sentence_ends".
    """
    from rnntag.io.text import split_text

    words = [0, 0, 0]  # gold, predicted, correct
    ends = [0, 0, 0]
    sentences = 0
    document: list[str] = []
    with open_text(path) as stream:
        for sentence in read_sentences(stream, path, ReadOptions("conllu")):
            assert sentence.conllu is not None
            text = sentence.conllu.metadata.get("text")
            if text is None:
                continue
            if any(key.startswith("newdoc") for key in sentence.conllu.metadata):
                _count_ends(document, ends)
                document = []
            document.append(text)
            sentences += 1
            spans, position = set(), 0
            for word in sentence.tokens:
                found = text.find(word, position)
                if found >= 0:
                    spans.add((found, found + len(word)))
                    position = found + len(word)
            predicted = {(t.start, t.end) for tokens in split_text(text) for t in tokens}
            _add(words, len(sentence.tokens), len(predicted), len(spans & predicted))
    _count_ends(document, ends)
    return {"sentences": sentences, **_scores(*words), "sentence_ends": _scores(*ends)}


def _count_ends(texts: list[str], counts: list[int]) -> None:
    """Add the gold, predicted and correct sentence ends of one document to `counts`."""
    from rnntag.io.text import split_text

    joined = " ".join(texts)
    gold, position = set(), 0
    for text in texts:
        position += len(text)
        gold.add(position)
        position += 1
    predicted = {tokens[-1].end for tokens in split_text(joined)}
    gold.discard(len(joined))
    predicted.discard(len(joined))
    _add(counts, len(gold), len(predicted), len(gold & predicted))


def _add(counts: list[int], gold: int, predicted: int, correct: int) -> None:
    counts[0] += gold
    counts[1] += predicted
    counts[2] += correct


def _scores(gold: int, predicted: int, correct: int) -> dict[str, Any]:
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "gold": gold,
        "predicted": predicted,
        "correct": correct,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }
