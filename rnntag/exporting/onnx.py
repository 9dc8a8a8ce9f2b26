"""`rnntag export --onnx`: a model's network, up to its emission scores, as an ONNX graph with
dynamic batch and length, and everything else a tagger needs (vocabularies, settings, the
CRF's scores) in the file's metadata, so `rnntag.exporting.runtime` can tag with onnxruntime
and numpy alone."""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import Tensor, nn

from rnntag.errors import RnntagError
from rnntag.io.files import atomic_write
from rnntag.model.config import ModelInfo
from rnntag.model.directory import resolve_model
from rnntag.model.document_memory import memory_weights, state_scores
from rnntag.model.encode import Batch
from rnntag.model.modelfile import load_model
from rnntag.model.network import SequenceTagger, SymbolBiLSTM
from rnntag.version import __version__

OPSET = 17
# The metadata keys, each a JSON text.
METADATA = ("rnntag", "settings", "labels", "words", "chars", "crf", "memory")


class _FinalStates(nn.Module):
    """A `SymbolBiLSTM` without packed sequences, which ONNX cannot hold: the forward and the
    backward direction each run over the padded symbols, the backward one over each word
    reversed within its length, and each word's state is taken at its last symbol. The same
    numbers as the packed original."""

    def __init__(self, original: SymbolBiLSTM):
        super().__init__()
        self.embed = original.embed
        size = original.lstm.hidden_size
        self.ahead = nn.LSTM(original.lstm.input_size, size, batch_first=True)
        self.back = nn.LSTM(original.lstm.input_size, size, batch_first=True)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(self.ahead, f"{name}_l0").data = getattr(original.lstm, f"{name}_l0").data
            getattr(self.back, f"{name}_l0").data = getattr(
                original.lstm, f"{name}_l0_reverse"
            ).data

    def forward(self, symbols: Tensor) -> Tensor:
        """Args: symbols (words, word_len). Returns: (words, 2 * hidden)."""
        words, width = symbols.shape
        # (words, 1)
        lengths = (symbols != 0).sum(dim=1, keepdim=True).clamp(min=1)
        # (words, word_len)
        positions = torch.arange(width, device=symbols.device).expand(words, width)
        reverse = torch.where(positions < lengths, lengths - 1 - positions, positions)
        # (words, word_len, symbol_dim) each
        embedded = self.embed(symbols)
        flipped = embedded.gather(1, reverse.unsqueeze(2).expand_as(embedded))
        # (words, 1, hidden): index of each word's last symbol
        last = (lengths - 1).unsqueeze(2).expand(words, 1, self.ahead.hidden_size)
        # (words, hidden) each
        forward_final = self.ahead(embedded)[0].gather(1, last).squeeze(1)
        backward_final = self.back(flipped)[0].gather(1, last).squeeze(1)
        # (words, 2 * hidden)
        return torch.cat([forward_final, backward_final], dim=1)


class _Emissions(nn.Module):
    """The exported function: word and character indices to emission scores, through the
    network's own `features` and `states`; for a model with a document memory, to phase 1
    of `rnntag.model.document_memory` (the scores without the memory, and the states), whose
    phase 2 the runtime runs over whole documents.

    Args:
        model: The network, whose character BiLSTM, if it has one, this replaces with its
            unpacked twin (`_FinalStates`, the same numbers): the export's own copy.
    """

    def __init__(self, model: SequenceTagger):
        super().__init__()
        if isinstance(model.chars, SymbolBiLSTM):
            model.chars = _FinalStates(model.chars)
        self.model = model

    def forward(
        self, words: Tensor, chars: Tensor, mask: Tensor, casing: Tensor
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Args: words, casing (batch, seq_len); chars (batch, seq_len, word_len); mask
        (batch, seq_len) boolean. Returns: (batch, seq_len, num_tags), and with a memory
        (batch, seq_len, state_size)."""
        batch, seq_len = words.shape
        # (batch, seq_len): every token is its own row of the (batch * seq_len) words' chars
        rows = torch.arange(batch * seq_len, device=words.device).view(batch, seq_len)
        inputs = Batch(words, mask, chars.flatten(0, 1), rows, casing=casing)
        # (batch, seq_len, state_size)
        states = self.model.states(self.model.features(inputs), mask)
        if self.model.config.doc_memory != "on":
            # (batch, seq_len, num_tags)
            return self.model.emissions(states)
        # (batch, seq_len, num_tags)
        return state_scores(self.model.emissions, states), states


def _unsupported(info: ModelInfo) -> str | None:
    if info.model.subword != "none":
        return "a model with byte-pair pieces (--subword bpe)"
    return None


def export_onnx(model: str | Path, out: Path) -> None:
    """Write a model as ONNX (see the module's docstring), replacing `out` only once written.

    Args:
        model: A shipped model's name or a model directory.
        out: The ONNX file.

    Raises:
        RnntagError: The model has a part the export does not cover.
    """
    directory = resolve_model(model)
    info, network = load_model(directory, torch.device("cpu"))
    unsupported = _unsupported(info)
    if unsupported is not None:
        raise RnntagError(f"ONNX export does not cover {unsupported} yet", str(directory))
    memory = info.model.doc_memory == "on"
    graph = onnx.load_model_from_string(_trace(_Emissions(network.eval()), memory))
    crf = network.crf
    scores = crf.constrained_scores() if crf is not None else None
    metadata = {
        "rnntag": {"rnntag_version": __version__, "format_version": 1},
        "settings": {
            "scheme": info.scheme,
            "data_scheme": info.data_scheme,
            "normalize_digits": info.model.normalize_digits,
            "lowercase": info.model.lowercase,
            "max_word_chars": info.model.max_word_chars,
            "casing": info.model.case_dim > 0,
            "decoder": info.model.decoder,
        },
        "labels": info.vocab.labels,
        "words": info.vocab.words,
        "chars": info.vocab.chars,
        "crf": None
        if scores is None
        else dict(zip(("start", "transitions", "end"), (s.tolist() for s in scores), strict=True)),
        "memory": _memory_weights(network) if memory else None,
    }
    for key in METADATA:
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, json.dumps(metadata[key], ensure_ascii=False)
    atomic_write(out, lambda path: onnx.save_model(graph, path))


def _memory_weights(network: SequenceTagger) -> dict[str, list[Any]]:
    """The output layer's columns that read a document memory: its mean and its flag."""
    weight, flag = (w.detach() for w in memory_weights(network.emissions))
    return {"weight": weight.tolist(), "flag": flag.tolist()}


def _trace(wrapper: nn.Module, memory: bool) -> bytes:
    """The ONNX program of `wrapper`, with dynamic batch size and lengths; with `memory`, the
    states are a second output."""
    # Indices of two sentences, one padded: any shape traces the same graph.
    words = torch.full((2, 3), 2, dtype=torch.long)
    chars = torch.full((2, 3, 4), 2, dtype=torch.long)
    mask = torch.tensor([[True, True, True], [True, True, False]])
    sizes = {0: "batch", 1: "seq_len"}
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        # The tracer warns of the Python values it fixes in the graph; none is a shape.
        warnings.simplefilter("ignore")
        path = Path(folder, "model.onnx")
        torch.onnx.export(
            wrapper,
            (words, chars, mask, torch.ones_like(words)),
            path,
            input_names=["words", "chars", "mask", "casing"],
            output_names=["emissions", "states"] if memory else ["emissions"],
            dynamic_axes={
                "words": sizes,
                "chars": {**sizes, 2: "word_len"},
                "mask": sizes,
                "casing": sizes,
                "emissions": sizes,
                **({"states": sizes} if memory else {}),
            },
            opset_version=OPSET,
            dynamo=False,
        )
        return path.read_bytes()
