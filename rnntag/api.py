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
from rnntag.evaluation.metrics import Evaluation, Mode, evaluate
from rnntag.io.files import check_output
from rnntag.io.formats import Format, ReadOptions, load_corpus
from rnntag.io.schemes import (
    SCHEMES,
    detect_scheme,
    first_violation,
    is_span_tag,
    split_tag,
)
from rnntag.io.sentence import InputSentence
from rnntag.model.config import (
    ModelConfig,
    TrainConfig,
    check_finite,
    check_recipe,
    check_sizes,
    from_dict,
    read_toml,
)
from rnntag.model.directory import resolve_model
from rnntag.model.documents import Documents
from rnntag.model.runtime import resolve_device
from rnntag.tagging.tagger import Tagger
from rnntag.training.loop import TrainObserver
from rnntag.training.output import claim_output

if TYPE_CHECKING:
    from rnntag.report import ProgressReporter
from rnntag.training.loop import train as run_training

MODEL_SETTINGS = frozenset(f.name for f in dataclasses.fields(ModelConfig))
TRAIN_SETTINGS = frozenset(f.name for f in dataclasses.fields(TrainConfig))


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
    unknown = set(settings) - MODEL_SETTINGS - TRAIN_SETTINGS
    if unknown:
        raise TypeError(f"train() got an unexpected setting {sorted(unknown)[0]!r}")
    model_config, train_config, given = (
        read_toml(str(config)) if config else (ModelConfig(), TrainConfig(), frozenset())
    )
    given |= (MODEL_SETTINGS | TRAIN_SETTINGS) & set(settings)
    model_config = from_dict(
        ModelConfig,
        {**vars(model_config), **{k: v for k, v in settings.items() if k in MODEL_SETTINGS}},
        "model",
    )
    train_config = from_dict(
        TrainConfig,
        {**vars(train_config), **{k: v for k, v in settings.items() if k in TRAIN_SETTINGS}},
        "train",
    )
    if scheme is not None and scheme not in SCHEMES:
        raise UsageError(f"scheme must be one of {', '.join(SCHEMES)}")
    read = _tagged_files(fmt, tag_column, tag_field, encoding)
    check_finite(model_config, train_config)
    check_recipe(train_config)
    if train_config.final_fit and dev is None:
        raise UsageError(
            "train.final_fit trains on the training and dev files together: give a dev file"
        )
    try:
        # Before the output folder is made: a refused setting leaves nothing behind.
        check_sizes(model_config)
    except RnntagError as exc:
        raise UsageError(exc.message) from None
    out = Path(out)
    # The folder written must hold none of what training reads: its data, the parent model
    # of a fine-tuning.
    parents = [resolve_model(train_config.init_from)] if train_config.init_from else []
    check_output(out, [p for p in (train, dev) if p], parents)
    torch_device = resolve_device(device)
    # Under torchrun, rank 0 alone writes.
    writes = os.environ.get("RANK", "0") == "0"
    with claim_output(out, force, resume) if writes else contextlib.nullcontext():
        train_data = _read(train, read, scheme)
        dev_data = _read(dev, read, scheme) if dev else None
        reporter = _progress_reporter() if progress and observer is None else None
        observer = observer or reporter or TrainObserver()
        if dev_data and train_config.final_fit:
            train_data, dev_data = [*train_data, *_documents_after(train_data, dev_data)], None
        observer.on_data(len(train_data), len(dev_data or []), torch_device.type)
        if dev_data:
            _check_dev_labels(train_data, dev_data, str(dev), observer)
        try:
            run_training(
                train_data, dev_data, out, model_config, train_config, observer, torch_device,
                scheme, resume, should_stop, given,
            )  # fmt: skip
        finally:
            if reporter is not None:
                reporter.close()
    return Tagger.load(out)


def _tagged_files(fmt: str | None, tag_column: int, tag_field: str, encoding: str) -> ReadOptions:
    """How `train` reads its files; a format other than CoNLL or CoNLL-U is a usage error."""
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
    from rich.console import Console

    from rnntag.report import ProgressReporter

    return ProgressReporter(Console(stderr=True))


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
    train_kinds, dev_kinds = (_kinds(_tags_of(data), spans) for data in (train_data, dev_data))
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


@dataclasses.dataclass
class Scored:
    """The scores of predicted tags against gold ones, with what an error analysis needs."""

    result: Evaluation
    tokens: list[list[str]]
    gold: list[list[str]]
    pred: list[list[str]]
    source: str  # what was scored against what, for reports
    lines: list[int]  # the line of each sentence in the gold file
    # A document-memory model's headline score in each situation: with the gold file's
    # documents ("documents") and with each sentence its own document ("sentences").
    situations: dict[str, float] | None = None


def score(
    gold_path: str,
    *,
    model: str | None = None,
    pred_path: str | None = None,
    fmt: Format | None = None,
    tag_column: int = -1,
    tag_field: str = "upos",
    encoding: str = "utf-8",
    scheme: str | None = None,
    mode: Mode = "conlleval",
    device: str = "auto",
    documents: Documents = "file",
) -> Scored:
    """Score a model on a gold file (`rnntag eval -m MODEL TEST`), or a predicted file with
    the same tokens against it (`rnntag eval --gold GOLD --pred PRED`).

    Args:
        gold_path: The gold file.
        model: The model to tag it with; or
        pred_path: The predicted file.
        fmt: `conll` or `conllu`, by default from each file's name.
        tag_column: CoNLL tag column.
        tag_field: CoNLL-U tag field.
        encoding: Encoding of the files.
        scheme: Span scheme of the gold file, detected when None. A model's tags are
            scored in it; a predicted file is scored as written, since rewriting its
            tags would repair the very spans that strict mode is there to refuse.
        mode: Span scoring mode.
        device: Where the model runs.
        documents: For a model with a document memory, which documents its tags and
            scores come from: "file" (the gold file's, `-DOCSTART-` or `# newdoc`) or
            "sentence" (each sentence alone); the other situation's headline score is
            returned beside them.

    Returns:
        The scores and what an error analysis needs.
    """
    if (model is None) == (pred_path is None):
        raise UsageError("give either a model or a predicted file to score")
    read = ReadOptions(fmt, tag_column, tag_field, encoding)
    gold_data = load_corpus(gold_path, read)
    tokens = [s.tokens for s in gold_data]
    gold = [s.tags or [] for s in gold_data]
    if scheme is not None:
        _check_span_tags(gold_data, gold_path, f"--scheme says {scheme}")
    scheme = scheme or detect_scheme(gold)
    lines = [s.line for s in gold_data]
    if pred_path is not None:
        pred_data = load_corpus(pred_path, read)
        _check_aligned(gold_path, gold_data, pred_path, pred_data)
        if scheme is not None:
            _check_span_tags(pred_data, pred_path, f"the gold tags are {scheme} spans")
        pred = [s.tags or [] for s in pred_data]
        result = evaluate(gold, pred, scheme, mode)
        return Scored(result, tokens, gold, pred, f"{pred_path} against {gold_path}", lines)
    assert model is not None
    # A span model's tags come out in the gold file's scheme, which the scores then use.
    tagger = Tagger.load(model, resolve_device(device), scheme)
    _check_gold_fits(tagger, gold_data, gold_path)
    order = ["documents", "sentences"] if documents == "file" else ["sentences", "documents"]
    if not tagger.info.model.doc_memory:
        order = order[:1]
    known, labels = tagger.encoder.knows, tagger.labels
    results = {}
    for situation in order:
        # Each sentence alone is a sentence with no document (see `document_groups`).
        sentence_documents = [s.document for s in gold_data] if situation == "documents" else None
        pred = [p.tags for p in tagger.predict(tokens, documents=sentence_documents)]
        results[situation] = (
            evaluate(gold, pred, tagger.output_scheme, mode, tokens, known, labels),
            pred,
        )
    result, pred = results[order[0]]
    situations = None
    if len(results) > 1:
        situations = {name: results[name][0].headline()[1] for name in sorted(results)}
    return Scored(result, tokens, gold, pred, f"{model} on {gold_path}", lines, situations)


def _check_gold_fits(tagger: Tagger, gold: list[InputSentence], path: str) -> None:
    """Refuse gold tags that cannot be scored against the model's: plain tags (POS, say) for
    a model of spans, or no label at all in common with the model."""
    spans = tagger.output_scheme is not None
    if spans:
        _check_span_tags(gold, path, "the model tags entity spans")
    labels, gold_labels = _kinds(set(tagger.labels), spans), _kinds(_tags_of(gold), spans)
    if gold_labels and not gold_labels & labels:
        listed = ", ".join(sorted(gold_labels)[:10])
        raise RnntagError(
            f"none of its labels ({listed}) is one the model knows, so every score would be 0;"
            " is this the model for this file?",
            path,
        )


def _tags_of(data: list[InputSentence]) -> set[str]:
    return {tag for sentence in data for tag in sentence.tags or []}


def _kinds(tags: set[str], spans: bool) -> set[str]:
    """What two tag sets are compared by: their entity types for span tags, else the tags."""
    return {split_tag(tag)[1] for tag in tags if tag != "O"} if spans else tags


def _check_span_tags(data: list[InputSentence], path: str, because: str) -> None:
    """Refuse tags that are not span tags where spans are scored."""
    for sentence in data:
        bad = next((tag for tag in sentence.tags or [] if not is_span_tag(tag)), None)
        if bad is not None:
            raise RnntagError(
                f"{bad!r} is no span tag, but {because}; score entity tags against entity"
                " tags, and other tags with a model of their kind",
                path,
                sentence.line,
            )


def _check_aligned(gold_path: str, gold: list, pred_path: str, pred: list) -> None:
    for g, p in zip(gold, pred, strict=False):
        if g.tokens != p.tokens:
            i = next(
                (i for i, (a, b) in enumerate(zip(g.tokens, p.tokens, strict=False)) if a != b),
                min(len(g.tokens), len(p.tokens)),
            )
            raise RnntagError(
                f"tokens do not line up with {gold_path} line {g.line}: sentence of"
                f" {len(p.tokens)} tokens against {len(g.tokens)},"
                f" first difference at token {i + 1}",
                pred_path,
                p.line,
            )
    if len(gold) != len(pred):
        raise RnntagError(f"{len(pred)} sentences, but {gold_path} has {len(gold)}", pred_path)
