"""Results as tables and lists: the scores of `rnntag eval` and its most frequent errors,
`rnntag info`'s summary of a model, `rnntag bench`'s speed and tokenisation scores."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from rnntag.console.results import percent
from rnntag.console.sparklines import print_curve
from rnntag.errors import RnntagError
from rnntag.evaluation.analysis import Confusion
from rnntag.evaluation.curves import read_curve
from rnntag.evaluation.html import plural
from rnntag.evaluation.metrics import Evaluation, Scores
from rnntag.io.schemes import OUTPUT_SCHEME
from rnntag.model.config import ModelInfo

TABLE_BOX = box.SIMPLE_HEAD


def _scores_table(title: str, rows: dict[str, Scores], first: str) -> Table:
    table = Table(title=title, box=TABLE_BOX, title_justify="left")
    table.add_column(first)
    for name in ("precision", "recall", "F1", "support"):
        table.add_column(name, justify="right")
    for name, scores in rows.items():
        table.add_row(
            name,
            percent(scores.precision),
            percent(scores.recall),
            percent(scores.f1),
            str(scores.support),
        )
    return table


def print_eval(
    console: Console, result: Evaluation, situations: dict[str, float] | None = None
) -> None:
    """Print an evaluation from `metrics.evaluate` as tables, and a document-memory model's
    headline score in both situations (see `rnntag.evaluation.scoring.score`)."""
    console.print(f"{result.sentences} sentences, {result.tokens} tokens")
    if result.spans is not None:
        mode = "conlleval-compatible" if result.spans.mode == "conlleval" else "strict"
        title = f"Entity spans ({mode}, scheme {result.scheme})"
        rows = {**result.spans.types, **result.spans.averages}
        console.print(_scores_table(title, rows, "type"))
    if result.tags is not None:
        console.print(_scores_table("Tags (per token)", result.tags, "tag"))
    console.print(f"token accuracy: {percent(result.token_accuracy)}")
    for name, part in (result.seen_unseen or {}).items():
        if part.tokens:
            tokens = plural(part.tokens, "token")
            console.print(f"{name} words: accuracy {percent(part.accuracy)} on {tokens}")
    if result.unknown_gold_labels:
        console.print(f"gold labels the model never saw: {', '.join(result.unknown_gold_labels)}")
    if situations:
        metric = result.headline()[0]
        console.print(
            f"document memory: {metric} {percent(situations['documents'])} with the file's"
            f" documents, {percent(situations['sentences'])} with each sentence alone"
            " (--documents file|sentence)"
        )


def print_errors(console: Console, confusions: Sequence[Confusion], limit: int) -> None:
    """Print the `limit` most frequent kinds of error from `analysis.confusions`, each with
    the words around its first occurrences and the erroneous words highlighted."""
    if not confusions:
        console.print("no errors", highlight=False)
        return
    shown = confusions[:limit]
    total = sum(c.count for c in confusions)
    console.print(
        f"Most frequent errors ({len(shown)} of {len(confusions)} kinds, {total:,} errors in all)",
        style="italic",
        highlight=False,
    )
    width = max(len(c.label) for c in shown)
    for rank, confusion in enumerate(shown, start=1):
        console.print(
            Text.assemble(
                f"{rank:>3}. ", (confusion.label.ljust(width), "bold"), f"  {confusion.count:>6,}"
            )
        )
        for example in confusion.examples:
            line = Text("     ")
            if example.left:
                line.append(example.left + " ")
            line.append(example.focus, style="bold red")
            if example.right:
                line.append(" " + example.right)
            console.print(line)
            console.print(Text(f"       {example.note}", style="dim"))


def _add_tokenisation(table: Table, info: ModelInfo) -> None:
    """The rows that say how plain text is split for the model, as its data was."""
    table.add_row("hyphenated compounds", f"{info.hyphens} (as its training data wrote them)")
    for key, forms, what in [
        ("forms kept whole", info.forms, "from its training data"),
        ("no sentence end after", info.abbreviations, "abbreviations"),
    ]:
        if forms:
            table.add_row(key, f"{len(forms):,} {what} ({' '.join(forms[:6])} ...)")


def print_info(console: Console, directory: Path, info: ModelInfo, parameters: int) -> None:
    """Print a model's configuration, labels, size and training results."""
    size = sum(f.stat().st_size for f in directory.iterdir() if f.is_file())
    table = Table(
        title=f"Model {directory}", box=TABLE_BOX, title_justify="left", show_header=False
    )
    table.add_column("key")
    # Folded, never cut with an ellipsis: a path is only useful whole.
    table.add_column("value", overflow="fold")
    table.add_row("rnntag version", info.rnntag_version)
    table.add_row("language", info.lang)
    card = directory / "MODEL_CARD.md"
    if card.is_file():
        table.add_row("model card", f"{card} (training data, scores, licence)")
    table.add_row("parameters", f"{parameters:,}")
    table.add_row("size on disk", f"{size / 1e6:.1f} MB")
    table.add_row("tag scheme in training", info.scheme or "none (plain tags)")
    if info.scheme is not None:
        data = info.data_scheme or info.scheme
        table.add_row("tag scheme of its output", f"{OUTPUT_SCHEME} (its data's: {data})")
    _add_tokenisation(table, info)
    table.add_row("labels", f"{len(info.vocab.labels)}: {' '.join(info.vocab.labels)}")
    table.add_row("words / characters", f"{len(info.vocab.words):,} / {len(info.vocab.chars):,}")
    for name, value in vars(info.model).items():
        if name.startswith("bpe_") and info.model.subword != "bpe":
            continue  # settings of a front end the model does not have
        table.add_row(f"model.{name}", str(value))
    for name, value in vars(info.train).items():
        table.add_row(f"train.{name}", str(value))
    results = info.results
    if results.get("dev_score") is not None:
        score = percent(results["dev_score"])
        table.add_row(
            "best dev score", f"{results['dev_metric']} {score} at epoch {results['best_epoch']}"
        )
    if "seconds" in results:
        table.add_row(
            "training",
            f"{plural(results['epochs_run'], 'epoch')}, {results['seconds']:.0f} s"
            f" on {results['device']}",
        )
    console.print(table)
    try:
        curve = read_curve(directory, info)
    except RnntagError as exc:
        # A model without a readable curve is still worth describing.
        console.print(str(exc), style="dim", highlight=False, markup=False, soft_wrap=True)
        return
    print_curve(console, curve)


def print_bench(console: Console, result: dict[str, Any]) -> None:
    """Print a tagging benchmark from `bench.benchmark`."""
    size = f"{result['tokens']:,} tokens, {result['sentences']:,} sentences"
    threads = plural(result["threads"], "thread")
    console.print(
        f"{size} in {result['seconds']:.2f} s on {result['device']} ({threads}): "
        f"{result['tokens_per_second']:,} tokens/s, {result['sentences_per_second']:,} sentences/s,"
        f" peak memory {result['peak_memory_mb']} MB",
        highlight=False,
    )
    table = Table(box=TABLE_BOX)
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    table.add_column("share", justify="right")
    stages = result["stage_seconds"]
    total = sum(stages.values()) or 1.0
    for stage, seconds in stages.items():
        table.add_row(stage, f"{seconds:.3f}", f"{100 * seconds / total:.0f}%")
    console.print(table)


def print_tokenization(console: Console, scores: dict[str, Any]) -> None:
    """The plain-text tokeniser's scores against a CoNLL-U gold file (`rnntag bench
    --tokenization`)."""
    console.print(
        f"tokenisation against {scores['gold']:,} gold words in {scores['sentences']:,}"
        f" sentences: precision {100 * scores['precision']:.2f},"
        f" recall {100 * scores['recall']:.2f}, F1 {100 * scores['f1']:.2f}",
        highlight=False,
    )
    ends = scores["sentence_ends"]
    console.print(
        f"sentence ends against {ends['gold']:,} gold ends inside documents:"
        f" precision {100 * ends['precision']:.2f}, recall {100 * ends['recall']:.2f},"
        f" F1 {100 * ends['f1']:.2f}",
        highlight=False,
    )
