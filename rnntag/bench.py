"""Tagging speed, measured stage by stage on a real input."""

from __future__ import annotations

import io
import resource
import sys
import time
from typing import Any

import torch

from rnntag.corpus import open_text, read_sentences
from rnntag.encode import length_batches
from rnntag.output import Column, write
from rnntag.predict import BATCH_SIZE, CHUNK_SIZE, Prediction, Tagger, chunks


def benchmark(
    tagger: Tagger, path: str, input_format: str, batch_size: int = BATCH_SIZE
) -> dict[str, Any]:
    """Tag a file as `rnntag tag` does (CoNLL output to a discarded buffer), timing each stage.

    Args:
        tagger: The loaded model.
        path: Input file.
        input_format: text, tokens, conll or conllu.
        batch_size: Sentences per batch.

    Returns:
        Tokens, sentences, seconds per stage (read: reading and tokenising; encode: strings
        to tensors; network: embeddings, BiRNN and emissions; decode: Viterbi or arg-max;
        write: CoNLL output), tokens and sentences per second, and peak memory in MB.
    """
    seconds = dict.fromkeys(("read", "encode", "network", "decode", "write"), 0.0)
    tokens = sentences = 0
    model, encoder = tagger.model.eval(), tagger.encoder
    device = next(model.parameters()).device
    sink = io.StringIO()
    started = time.perf_counter()
    with open_text(path) as stream, torch.inference_mode():
        stream_sentences = read_sentences(stream, path, input_format, tag_column=None)  # type: ignore[arg-type]
        mark = time.perf_counter()
        for chunk in chunks(stream_sentences, CHUNK_SIZE):
            seconds["read"] += time.perf_counter() - mark
            words = [s.tokens for s in chunk]
            tags: list[list[str]] = [[] for _ in chunk]
            for indices in length_batches([len(w) for w in words], batch_size):
                mark = time.perf_counter()
                batch = encoder.batch([words[i] for i in indices]).to(device)
                seconds["encode"] += time.perf_counter() - mark
                mark = time.perf_counter()
                emissions = model(batch)
                seconds["network"] += time.perf_counter() - mark
                mark = time.perf_counter()
                if model.crf is not None:
                    best = model.crf.decode(emissions, batch.mask)[1].tolist()
                else:
                    best = emissions.argmax(dim=2).tolist()
                for row, i in enumerate(indices):
                    tags[i] = [encoder.labels[t] for t in best[row][: len(words[i])]]
                seconds["decode"] += time.perf_counter() - mark
            mark = time.perf_counter()
            for sentence, sentence_tags in zip(chunk, tags, strict=True):
                write(sink, "conll", sentence, [Column("m", Prediction(sentence_tags), False)], "")
            sink.seek(0)
            sink.truncate()
            seconds["write"] += time.perf_counter() - mark
            tokens += sum(len(w) for w in words)
            sentences += len(chunk)
            mark = time.perf_counter()
        seconds["read"] += time.perf_counter() - mark
    total = time.perf_counter() - started
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
        "device": device.type,
    }
