"""A training curve as text: sparklines of dev score and loss, the best epoch marked
(`rnntag info`; `rnntag plot` draws it as an image)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from rnntag.console.results import percent
from rnntag.evaluation.curves import Curve

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
            f"{curve.best_epoch}: {curve.dev_metric} {percent(curve.best_score)}",
        )
    per = f", {step} epochs a character" if step > 1 else ""
    console.print(
        f"Training curve ({curve.source.name}, epochs {curve.epochs[0]}-{curve.epochs[-1]}{per})",
        style="italic",
        highlight=False,
    )
    console.print(Padding(grid, (0, 0, 0, 2)))
