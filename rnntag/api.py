"""The Python interface: `load` a model and tag with it, or `train` one. The command line is
built on these same functions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from rnntag.errors import RnntagError, UsageError
from rnntag.evaluation.scoring import label_kinds, tags_of
from rnntag.io.files import check_output
from rnntag.io.formats import Format, ReadOptions, load_corpus
from rnntag.io.schemes import SCHEMES, detect_scheme, first_violation
from rnntag.io.sentence import InputSentence
from rnntag.model.device import resolve_device
from rnntag.model.directory import resolve_model
from rnntag.tagging.tagger import Tagger
from rnntag.training.checkpoint import load_checkpoint
from rnntag.training.distributed import joined
from rnntag.training.loop import train as run_training
from rnntag.training.observer import TrainObserver
from rnntag.training.output_folder import claim_output
from rnntag.training.recipe import Settings, read_settings, resolve

if TYPE_CHECKING:
    from rnntag.console.progress import ProgressReporter


def load(
    name_or_path: str | Path, device: str = "auto", output_scheme: str | None = None
) -> Tagger:
    """Load a tagger: a shipped model (`"ner"`, `"pos"`) or a model directory.

    Args:
        name_or_path: The model.
        device: `auto` (CUDA when there is a GPU), `cpu` or `cuda`.
        output_scheme: Span scheme of the tags it returns (IOB1, IOB2, IOBES); by default
            IOB2 (BIO), whatever its training data used.

    Returns:
        The tagger; see `Tagger.tag`, `Tagger.tag_tokens` and `Tagger.iter_tag`.

    Example:
        >>> import rnntag
        >>> pos = rnntag.load("pos")
        >>> [(t.text, t.tag) for t in pos.tag("The cat sleeps.")[0].tokens]
        [('The', 'DET'), ('cat', 'NOUN'), ('sleeps', 'VERB'), ('.', 'PUNCT')]
    """
    return Tagger.load(name_or_path, resolve_device(device), output_scheme)


def train(
    train: str | Path,
    out: str | Path,
    dev: str | Path | None = None,
    *,
    config: str | Path | None = None,
    fmt: str | None = None,
    tag_column: int = -1,
    tag_field: str = "upos",
    scheme: str | None = None,
    device: str = "auto",
    encoding: str = "utf-8",
    resume: bool = False,
    force: bool = False,
    observer: TrainObserver | None = None,
    progress: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    **settings: Any,
) -> Tagger:
    """Train a tagger on a CoNLL or CoNLL-U file, as `rnntag train` does, and save the best
    model on `dev` to `out`.

    Args:
        train: Tagged training file.
        out: Model directory to write.
        dev: Tagged development file, for model selection and early stopping.
        config: TOML file with `[model]` and `[train]` tables; `settings` override it.
        fmt: `conll` or `conllu`; by default `conllu` for `*.conllu` files, else `conll`.
        tag_column: CoNLL tag column (0-based; negative counts from the end).
        tag_field: CoNLL-U tag field: `upos`, `xpos` or `misc:KEY`.
        scheme: Span scheme of the data (IOB1, IOB2, IOBES); detected when None.
        device: `auto`, `cpu` or `cuda`.
        encoding: Encoding of the files.
        resume: Continue the interrupted training in `out` from its checkpoint.
        force: Overwrite a model already in `out`.
        observer: Receives progress (the command line shows it as progress bars); subclass
            `TrainObserver` for a callback on each batch and epoch.
        progress: Without an observer, show the progress on standard error as `rnntag
            train` does: bars while an epoch runs, then a line per epoch.
        should_stop: Polled after every batch; when true, a checkpoint is saved and
            `TrainingInterrupted` raised.
        **settings: Any field of `ModelConfig` or `TrainConfig`, which are the long options of
            `rnntag train` with underscores (`hidden_size=300`, `embeddings="glove.txt.gz"`).
            For plain tags (POS), each of `char_encoder`, `char_hidden`, `num_layers` and
            `hidden_size` that neither `settings` nor `config` gives takes the value of
            `PLAIN_TAG_NETWORK` (a bigger network) instead of the default.

    Returns:
        The trained tagger, loaded from `out`.

    Example:
        >>> import rnntag, tempfile
        >>> out = tempfile.mkdtemp()
        >>> tagger = rnntag.train("data/ner-train.conll", out, dev="data/ner-dev.conll",
        ...                       epochs=2, hidden_size=16, seed=3)
        >>> tagger.spans, sorted(tagger.info.results)[:3]
        (True, ['best_epoch', 'dev_metric', 'dev_score'])
    """
    model_config, train_config, given = read_settings(config, settings)
    read = _tagged_files(fmt, tag_column, tag_field, encoding, scheme)
    # Before the output folder is made: a refused setting leaves nothing behind.
    asked = Settings(model_config, train_config, given)
    if asked.train.final_fit and dev is None:
        raise UsageError(
            "train.final_fit trains on the training and dev files together: give a dev file"
        )
    out = Path(out)
    # The folder written must hold none of what training reads: its data, the parent model
    # of a fine-tuning, the teachers of a distillation.
    parents = [resolve_model(m) for m in [asked.train.init_from or "", *asked.train.teacher] if m]
    check_output(out, [p for p in (train, dev, asked.train.unlabelled) if p], parents)
    torch_device = resolve_device(device)
    # Under torchrun, rank 0 alone writes.
    writes = os.environ.get("RANK", "0") == "0"
    with claim_output(out, force, resume) if writes else contextlib.nullcontext():
        train_data = _read(train, read, scheme)
        dev_data = _read(dev, read, scheme) if dev else None
        reporter = _progress_reporter() if progress and observer is None else None
        observer = observer or reporter or TrainObserver()
        if dev_data and asked.train.final_fit:
            train_data, dev_data = [*train_data, *_documents_after(train_data, dev_data)], None
        observer.on_data(len(train_data), len(dev_data or []), torch_device.type)
        if dev_data:
            _check_dev_labels(train_data, dev_data, str(dev), observer)
        try:
            with joined(torch_device) as cluster:
                recipe = resolve(
                    asked, train_data, scheme, load_checkpoint(out) if resume else None, cluster
                )
                run_training(recipe, dev_data, out, cluster, observer, should_stop)
        finally:
            if reporter is not None:
                reporter.close()
    return Tagger.load(out)


def _tagged_files(
    fmt: str | None, tag_column: int, tag_field: str, encoding: str, scheme: str | None
) -> ReadOptions:
    """How `train` reads its files; a scheme, or a format other than CoNLL or CoNLL-U, that
    does not exist is a usage error."""
    if scheme is not None and scheme not in SCHEMES:
        raise UsageError(f"scheme must be one of {', '.join(SCHEMES)}")
    if fmt not in (None, "conll", "conllu"):
        raise UsageError("format must be conll or conllu")
    return ReadOptions(cast("Format | None", fmt), tag_column, tag_field, encoding)


def _documents_after(
    first: list[InputSentence], second: list[InputSentence]
) -> list[InputSentence]:
    """`second` with its documents renumbered past those of `first`, so that none of its
    documents joins one of `first`'s (both number documents by their first line)."""
    offset = max(s.line for s in first) + 1
    return [
        s if s.document is None else dataclasses.replace(s, document=s.document + offset)
        for s in second
    ]


def _progress_reporter() -> ProgressReporter:
    from rnntag.console.progress import ProgressReporter

    return ProgressReporter()


def _check_dev_labels(
    train_data: list[InputSentence],
    dev_data: list[InputSentence],
    dev: str,
    observer: TrainObserver,
) -> None:
    """Dev labels (entity types, for span tags) that the training data lacks can never be
    predicted: with none in common the dev score is 0 whatever is learnt, an error; with
    some, a warning."""
    spans = detect_scheme(s.tags or [] for s in train_data) is not None
    train_kinds, dev_kinds = (label_kinds(tags_of(data), spans) for data in (train_data, dev_data))
    unseen = sorted(dev_kinds - train_kinds)
    if not unseen:
        return
    what = "entity types" if spans else "labels"
    listed = ", ".join(unseen[:10]) + (", ..." if len(unseen) > 10 else "")
    if not dev_kinds & train_kinds:
        raise RnntagError(
            f"none of its {what} ({listed}) occurs in the training data, so the dev score"
            " would be 0 whatever is learnt",
            dev,
        )
    observer.on_warning(f"{dev} has {what} the training data lacks, never predicted: {listed}")


def _read(path: str | Path, read: ReadOptions, scheme: str | None) -> list[InputSentence]:
    name = str(path)
    sentences = load_corpus(name, read)
    if scheme is not None:
        check_scheme(name, sentences, scheme, read.format_of(name))
    return sentences


def check_scheme(path: str, sentences: list[InputSentence], scheme: str, fmt: str) -> None:
    """Refuse tagged sentences that break the span scheme the user declared.

    Args:
        path: Their file, for the error message.
        sentences: The sentences as read.
        scheme: IOB1, IOB2 or IOBES.
        fmt: The file's format, `conll` or `conllu`.
    """
    for sentence in sentences:
        given = sentence.tags or []
        index = first_violation(given, scheme)
        if index is None:
            continue
        tags = ["START", *given, "END"]
        # CoNLL has a line per token; elsewhere the sentence's first line is the best we know.
        line = sentence.line + min(index, len(given) - 1) if fmt == "conll" else sentence.line
        raise RnntagError(
            f"{tags[index + 1]} after {tags[index]} breaks the declared {scheme} scheme"
            " (leave out --scheme to have the scheme detected)",
            path,
            line,
        )
