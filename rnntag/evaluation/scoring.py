"""Scoring a model on a gold file (`rnntag eval -m MODEL TEST`), or a predicted file against
a gold one (`rnntag eval --gold GOLD --pred PRED`): the files read and checked against each
other or the model, the model run, and the scores with what an error analysis needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from rnntag.errors import RnntagError, UsageError
from rnntag.evaluation.metrics import Evaluation, Mode, evaluate
from rnntag.io.formats import Format, ReadOptions, load_corpus
from rnntag.io.schemes import detect_scheme, is_span_tag, split_tag
from rnntag.io.sentence import InputSentence
from rnntag.model.device import resolve_device
from rnntag.model.documents import Documents
from rnntag.tagging.tagger import Tagger


@dataclass
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
    if tagger.info.model.doc_memory != "on":
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
    labels, gold_labels = label_kinds(set(tagger.labels), spans), label_kinds(tags_of(gold), spans)
    if gold_labels and not gold_labels & labels:
        listed = ", ".join(sorted(gold_labels)[:10])
        raise RnntagError(
            f"none of its labels ({listed}) is one the model knows, so every score would be 0;"
            " is this the model for this file?",
            path,
        )


def tags_of(data: list[InputSentence]) -> set[str]:
    """Every tag in the sentences."""
    return {tag for sentence in data for tag in sentence.tags or []}


def label_kinds(tags: set[str], spans: bool) -> set[str]:
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
