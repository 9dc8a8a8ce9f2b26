"""Everything rnntag shows a person: evaluation tables, model summaries, training progress."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from rnntag.errors import RnntagError
from rnntag.evaluation.analysis import Confusion
from rnntag.evaluation.html import plural
from rnntag.evaluation.metrics import Evaluation, Scores
from rnntag.io.schemes import OUTPUT_SCHEME
from rnntag.model.config import ModelInfo
from rnntag.training.curves import Curve, read_curve
from rnntag.training.loop import EpochResult, TrainObserver

TABLE_BOX = box.SIMPLE_HEAD


def _percent(value: float) -> str:
    return f"{100 * value:.2f}"


def _scores_table(title: str, rows: dict[str, Scores], first: str) -> Table:
    table = Table(title=title, box=TABLE_BOX, title_justify="left")
    table.add_column(first)
    for name in ("precision", "recall", "F1", "support"):
        table.add_column(name, justify="right")
    for name, scores in rows.items():
        table.add_row(
            name,
            _percent(scores.precision),
            _percent(scores.recall),
            _percent(scores.f1),
            str(scores.support),
        )
    return table


def print_eval(
    console: Console, result: Evaluation, situations: dict[str, float] | None = None
) -> None:
    """Print an evaluation from `metrics.evaluate` as tables, and a document-memory model's
    headline score in both situations (see `rnntag.api.score`)."""
    console.print(f"{result.sentences} sentences, {result.tokens} tokens")
    if result.spans is not None:
        mode = "conlleval-compatible" if result.spans.mode == "conlleval" else "strict"
        title = f"Entity spans ({mode}, scheme {result.scheme})"
        rows = {**result.spans.types, **result.spans.averages}
        console.print(_scores_table(title, rows, "type"))
    if result.tags is not None:
        console.print(_scores_table("Tags (per token)", result.tags, "tag"))
    console.print(f"token accuracy: {_percent(result.token_accuracy)}")
    for name, part in (result.seen_unseen or {}).items():
        if part.tokens:
            tokens = plural(part.tokens, "token")
            console.print(f"{name} words: accuracy {_percent(part.accuracy)} on {tokens}")
    if result.unknown_gold_labels:
        console.print(f"gold labels the model never saw: {', '.join(result.unknown_gold_labels)}")
    if situations:
        metric = result.headline()[0]
        console.print(
            f"document memory: {metric} {_percent(situations['documents'])} with the file's"
            f" documents, {_percent(situations['sentences'])} with each sentence alone"
            " (--documents file|sentence)"
        )


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
        score = _percent(results["dev_score"])
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


# Eight levels, lowest first; ASCII where the output cannot encode block characters (rich
# draws its tables in ASCII there too).
SPARK = "▁▂▃▄▅▆▇█"
ASCII_SPARK = "_.,:-=+#"
# Longer runs share characters between epochs, so a curve fits an 80-column terminal.
SPARK_WIDTH = 60


def _sparkline(values: Sequence[float | None], step: int, levels: str) -> tuple[str, str]:
    """One character per `step` epochs (their mean), scaled from the lowest value to the
    highest; and that scale, as text."""
    buckets = [
        [v for v in values[i : i + step] if v is not None and math.isfinite(v)]
        for i in range(0, len(values), step)
    ]
    means = [sum(b) / len(b) if b else None for b in buckets]
    known = [m for m in means if m is not None]
    if not known:
        return " " * len(means), ""
    low, high = min(known), max(known)
    top = len(levels) - 1
    line = "".join(
        " " if m is None else levels[round(top * (m - low) / (high - low)) if high > low else top]
        for m in means
    )
    return line, f"{levels[0]} {low:.4g}  {levels[-1]} {high:.4g}"


def print_curve(console: Console, curve: Curve) -> None:
    """Print a training curve as sparklines of dev score and loss, the best epoch marked."""
    step = math.ceil(len(curve.epochs) / SPARK_WIDTH)
    utf = console.encoding.startswith("utf")
    levels, dot, mark = (SPARK, "·", "▲") if utf else (ASCII_SPARK, ".", "^")
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(no_wrap=True)
    grid.add_column()

    def add(label: str, values: Sequence[float | None], style: str) -> None:
        line, scale = _sparkline(values, step, levels)
        grid.add_row(label, Text(line, style), scale)

    if curve.dev_metric is not None:
        add(
            f"dev {curve.dev_metric}",
            [None if s is None else 100 * s for s in curve.dev_score],
            "green",
        )
    add("training loss", curve.loss, "blue")
    if curve.best_epoch is not None and curve.best_score is not None:
        column = curve.epochs.index(curve.best_epoch) // step
        width = math.ceil(len(curve.epochs) / step)
        marker = dot * column + mark + dot * (width - column - 1)
        grid.add_row(
            "best epoch",
            Text(marker, "bold yellow"),
            f"{curve.best_epoch}: {curve.dev_metric} {_percent(curve.best_score)}",
        )
    per = f", {step} epochs a character" if step > 1 else ""
    console.print(
        f"Training curve ({curve.source.name}, epochs {curve.epochs[0]}-{curve.epochs[-1]}{per})",
        style="italic",
        highlight=False,
    )
    console.print(Padding(grid, (0, 0, 0, 2)))


class ProgressReporter(TrainObserver):
    """Shows a progress bar over an epoch's batches (on a terminal) and one line per epoch.

    Args:
        console: Where to draw; normally standard error.
    """

    def __init__(self, console: Console):
        self.console = console
        self.epochs = 0
        self.progress = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.3f}"),
            TextColumn("{task.fields[speed]:,.0f} tok/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self.task = self.progress.add_task("train", total=0, epoch=0, loss=0.0, speed=0.0)
        self.tokens = 0

    def on_choice(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def on_data(self, train_sentences: int, dev_sentences: int, device: str) -> None:
        dev = f", dev {dev_sentences} sentences" if dev_sentences else ""
        self.console.print(
            f"training on {train_sentences} sentences{dev}, device {device}", highlight=False
        )

    def on_warning(self, message: str) -> None:
        self.console.print(
            f"rnntag: warning: {message}", highlight=False, markup=False, soft_wrap=True
        )

    def on_start(self, epochs: int, batches_per_epoch: int) -> None:
        self.epochs = epochs
        self.progress.update(self.task, total=batches_per_epoch)
        self.progress.start()

    def on_batch(self, epoch: int, batch: int, loss: float, tokens: int) -> None:
        if batch == 1:
            self.tokens = 0
            self.progress.reset(self.task)
        self.tokens += tokens
        elapsed = self.progress.tasks[0].elapsed or 0.0
        self.progress.update(
            self.task,
            completed=batch,
            epoch=f"{epoch}/{self.epochs}",
            loss=loss,
            speed=self.tokens / elapsed if elapsed > 0 else 0.0,
        )

    def on_epoch(self, result: EpochResult) -> None:
        dev = (
            ""
            if result.dev_score is None
            else f"  dev {result.dev_metric} {_percent(result.dev_score)}"
        )
        if result.dev_situations:
            dev += (
                " ("
                + ", ".join(
                    f"{name} {_percent(score)}" for name, score in result.dev_situations.items()
                )
                + ")"
            )
        best = "  [bold green]best, saved[/]" if result.improved else ""
        self.console.print(
            f"epoch {result.epoch}/{self.epochs}  loss {result.loss:.3f}{dev}{best}"
            f"  {result.seconds:.1f} s  {result.tokens_per_second:,.0f} tok/s",
            highlight=False,
        )

    def close(self) -> None:
        """Remove the progress bar."""
        self.progress.stop()


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


def print_trained(console: Console, results: dict[str, Any], out: Path) -> None:
    """The line `rnntag train` ends with: the best dev score, and where the model is."""
    score = results.get("dev_score")
    best = (
        f"best dev {results['dev_metric']} {100 * score:.2f} at epoch {results['best_epoch']}; "
        if score is not None
        else ""
    )
    console.print(f"{best}model saved to {out}", highlight=False)
