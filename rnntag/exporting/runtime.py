"""Tagging with an exported ONNX model (`rnntag export --onnx`) through onnxruntime and numpy
alone, without torch: the file's metadata gives the vocabularies and settings, onnxruntime
the emission scores, and `viterbi` here the best tag sequences.

After `rnntag export ner --onnx ner.onnx`:

    from rnntag.exporting.runtime import OnnxTagger
    OnnxTagger("ner.onnx").tag([["Ada", "Lovelace", "was", "born", "in", "London", "."]])
    # [['B-PER', 'I-PER', 'O', 'O', 'O', 'B-LOC', 'O']]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rnntag.exporting.metadata import read_metadata
from rnntag.io.checks import checked_tokens
from rnntag.io.schemes import OUTPUT_SCHEME, check_output_scheme, convert
from rnntag.model.document_memory import NumpyDocumentMemory, TokenGroups
from rnntag.model.vocab import Vocab, casing, clip_word, word_key

# Sentences run through the network at once.
BATCH_SENTENCES = 64


def viterbi(
    emissions: np.ndarray,
    mask: np.ndarray,
    start: np.ndarray,
    transitions: np.ndarray,
    end: np.ndarray,
) -> np.ndarray:
    """Best tag sequence of each sentence, in the same float32 steps as the torch CRF's
    `decode`, so ties break the same way (the first best tag).

    Args:
        emissions: (batch, seq_len, num_tags) float32 scores.
        mask: (batch, seq_len) boolean; each sentence's tokens come first.
        start: (num_tags,) start scores.
        transitions: (from, to) transition scores.
        end: (num_tags,) end scores.

    Returns:
        (batch, seq_len) tag indices, 0 at padded positions.
    """
    seq_len, num_tags = emissions.shape[1:]
    identity = np.arange(num_tags)
    # (batch, num_tags): best score of a prefix ending in each tag
    best = start + emissions[:, 0]
    pointers = []
    for t in range(1, seq_len):
        # (batch, from, to)
        step = best[:, :, None] + transitions
        # (batch, num_tags) each
        step_from = step.argmax(axis=1)
        step_best = np.take_along_axis(step, step_from[:, None, :], axis=1)[:, 0] + emissions[:, t]
        keep = mask[:, t, None]
        best = np.where(keep, step_best, best)
        pointers.append(np.where(keep, step_from, identity))
    # (batch,)
    current = (best + end).argmax(axis=1)
    path = [current]
    for step_from in reversed(pointers):
        current = np.take_along_axis(step_from, current[:, None], axis=1)[:, 0]
        path.append(current)
    # (batch, seq_len)
    return np.where(mask, np.stack(path[::-1], axis=1), 0)


class OnnxTagger:
    """An exported model, loaded into onnxruntime.

    Args:
        path: The `.onnx` file.
        output_scheme: Span scheme of the tags returned; by default IOB2 (BIO).
        providers: onnxruntime execution providers; by default the CPU.
    """

    def __init__(
        self,
        path: str | Path,
        output_scheme: str | None = None,
        providers: Sequence[str] = ("CPUExecutionProvider",),
    ):
        import onnxruntime

        self.session = onnxruntime.InferenceSession(str(path), providers=list(providers))
        shapes = {output.name: output.shape for output in self.session.get_outputs()}
        meta = read_metadata(self.session.get_modelmeta().custom_metadata_map, shapes, str(path))
        self.settings: dict[str, Any] = meta.settings
        self.labels: list[str] = meta.labels
        self.words, self.chars = Vocab(meta.words), Vocab(meta.chars)
        self.crf, self.memory = meta.crf, meta.memory
        check_output_scheme(output_scheme)
        scheme = self.settings["scheme"]
        self.output_scheme = None if scheme is None else output_scheme or OUTPUT_SCHEME
        self.inputs = {i.name for i in self.session.get_inputs()}

    def emissions(
        self, sentences: Sequence[Sequence[str]], documents: Sequence[int | None] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The network's scores for a batch of sentences.

        Args:
            sentences: Tokens of each sentence, none empty.
            documents: Each sentence's document (see `tag`), or None.

        Returns:
            (batch, seq_len, num_tags) scores and the (batch, seq_len) boolean mask.
        """
        sentences = checked_tokens(sentences)
        ((scores, mask),) = self._scores(sentences, documents, [list(range(len(sentences)))])
        return scores, mask

    def tag(
        self, sentences: Sequence[Sequence[str]], documents: Sequence[int | None] | None = None
    ) -> list[list[str]]:
        """Tag pre-tokenised sentences.

        Args:
            sentences: Tokens of each sentence, none empty.
            documents: Each sentence's document, for a model with a document memory: a
                number shared by the consecutive sentences of one document, or None for a
                sentence of its own (see `InputSentence.document`).

        Returns:
            The tags of each sentence, in `output_scheme` for a span model.
        """
        sentences = checked_tokens(sentences)
        if documents is not None and len(documents) != len(sentences):
            raise ValueError(f"{len(documents)} documents for {len(sentences)} sentences")
        convert_to = self.output_scheme if self.output_scheme != self.settings["scheme"] else None
        # Sentences of similar length together, as `rnntag tag` batches them: less padding.
        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
        batches = [order[i : i + BATCH_SENTENCES] for i in range(0, len(order), BATCH_SENTENCES)]
        found: dict[int, list[str]] = {}
        for batch, (scores, mask) in zip(
            batches, self._scores(sentences, documents, batches), strict=True
        ):
            if self.crf is None:
                best = np.where(mask, scores.argmax(axis=2), 0)
            else:
                best = viterbi(scores, mask, *self.crf)
            for row, i in enumerate(batch):
                tags = [self.labels[k] for k in best[row, : len(sentences[i])]]
                found[i] = convert(tags, convert_to) if convert_to else tags
        return [found[i] for i in range(len(sentences))]

    def _scores(
        self,
        sentences: Sequence[Sequence[str]],
        documents: Sequence[int | None] | None,
        batches: list[list[int]],
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """The scores and mask of each batch of sentence indices. With a document memory,
        as `rnntag.tagging.predict` gives them: each batch goes through the memory's phase 1
        (the graph's scores and states), and once all have, through phase 2 (see
        `rnntag.model.document_memory`)."""
        if self.memory is None or not batches:
            return [self._network([sentences[i] for i in batch])[:2] for batch in batches]
        groups = TokenGroups(sentences, documents)
        memory = NumpyDocumentMemory(*self.memory)
        masks = []
        for batch in batches:
            scores, mask, states = self._network([sentences[i] for i in batch])
            assert states is not None
            numbers, keep = groups.batch(batch)
            memory.add(scores, states, keep, numbers)
            masks.append(mask)
        return list(zip(memory.scores(), masks, strict=True))

    def _network(
        self, sentences: Sequence[Sequence[str]]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Scores, mask and, for a model with a memory, states (see `rnntag.exporting.onnx`)
        of one batch."""
        settings = self.settings
        seq_len = max(len(s) for s in sentences)
        clipped = [[clip_word(t, settings["max_word_chars"]) for t in s] for s in sentences]
        word_len = max(len(t) for s in clipped for t in s) or 1
        shape = (len(sentences), seq_len)
        words, cases = np.zeros(shape, np.int64), np.zeros(shape, np.int64)
        chars, mask = np.zeros((*shape, word_len), np.int64), np.zeros(shape, bool)
        for i, (tokens, clips) in enumerate(zip(sentences, clipped, strict=True)):
            mask[i, : len(tokens)] = True
            for j, (token, clip) in enumerate(zip(tokens, clips, strict=True)):
                words[i, j] = self.words.lookup(
                    word_key(token, settings["normalize_digits"], settings["lowercase"])
                )
                cases[i, j] = casing(token)
                chars[i, j, : len(clip)] = self.chars.lookup_all(clip)
        feed = {"words": words, "chars": chars, "mask": mask, "casing": cases}
        outputs = ["emissions"] if self.memory is None else ["emissions", "states"]
        found = self.session.run(outputs, {k: v for k, v in feed.items() if k in self.inputs})
        return found[0], mask, found[1] if self.memory is not None else None
