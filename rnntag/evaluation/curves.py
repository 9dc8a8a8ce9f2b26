"""Training curves: a model's per-epoch loss and dev score, read from `metrics.jsonl` (or
from `results.history` in `config.json` for models trained before that file existed) and
drawn with matplotlib, an optional dependency (`pip install 'rnntag[plot]'`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnntag.errors import RnntagError, UsageError
from rnntag.io.files import atomic_write, parse_json, read_small_text
from rnntag.model.config import ModelInfo
from rnntag.model.directory import CONFIG_FILE, METRICS_FILE, read_info

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Image formats by file extension; matplotlib writes both without extra packages.
FORMATS = {".png": "png", ".svg": "svg"}
# Dev scores (in points) closer than this make a flat curve, drawn on a 10-point scale.
FLAT = 1e-6
PNG_DPI = 150


@dataclass(frozen=True)
class Curve:
    """A training run, one entry per epoch in every list.

    Attributes:
        source: The file the curve was read from.
        epochs: Epoch numbers, increasing.
        loss: Mean training loss per sentence.
        dev_score: Dev score (a fraction), None where the epoch had no dev evaluation.
        dev_metric: Name of the dev score (`span F1`, `accuracy`), None without dev data.
        best_epoch: The epoch whose weights were saved (the last that improved on dev),
            None without dev data.
    """

    source: Path
    epochs: list[int]
    loss: list[float]
    dev_score: list[float | None]
    dev_metric: str | None
    best_epoch: int | None

    @property
    def best_score(self) -> float | None:
        """The dev score of the best epoch."""
        if self.best_epoch is None:
            return None
        return self.dev_score[self.epochs.index(self.best_epoch)]

    @property
    def model_name(self) -> str:
        """The model directory's folder name."""
        return self.source.resolve().parent.name


def read_curve(directory: Path, info: ModelInfo | None = None) -> Curve:
    """Read a model directory's training curve.

    Args:
        directory: Model directory.
        info: Its configuration, if already loaded; read from `config.json` only when
            `metrics.jsonl` is missing.

    Returns:
        The curve from `metrics.jsonl`, or else from `results.history` in `config.json`.

    Raises:
        RnntagError: The directory or both sources are missing, or a record is malformed
            (naming the file and line).
    """
    if not directory.is_dir():
        raise RnntagError("model directory not found", str(directory))
    path = directory / METRICS_FILE
    if path.is_file():
        return _from_records(path, _read_jsonl(path))
    if not (directory / CONFIG_FILE).is_file():
        raise RnntagError("no training curve: file not found", str(path))
    history = (info or read_info(directory)).results.get("history")
    if not history:
        raise RnntagError(
            f"no training curve: file not found and {CONFIG_FILE} has no results.history",
            str(path),
        )
    if not isinstance(history, list):
        raise RnntagError("results.history must be a list", str(directory / CONFIG_FILE))
    return _from_records(directory / CONFIG_FILE, [(None, record) for record in history])


def _read_jsonl(path: Path) -> list[tuple[int | None, Any]]:
    """(line number, parsed JSON) for every non-blank line."""
    text = read_small_text(path, "training curve")
    records: list[tuple[int | None, Any]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        records.append((number, parse_json(line, path, "epoch record", number)))
    if not records:
        raise RnntagError("no epochs recorded", str(path))
    return records


def _from_records(source: Path, records: list[tuple[int | None, Any]]) -> Curve:
    epochs: list[int] = []
    loss: list[float] = []
    scores: list[float | None] = []
    metric, best = None, None
    for index, (line, record) in enumerate(records):
        # Lines name themselves by number; config.json's history entries by their index.
        where = "" if line is not None else f"results.history[{index}]: "
        problem = _problem(record)
        if problem is None and epochs and record["epoch"] <= epochs[-1]:
            problem = f"epoch {record['epoch']} comes after epoch {epochs[-1]}"
        if problem is not None:
            raise RnntagError(where + problem, str(source), line)
        epochs.append(record["epoch"])
        loss.append(float(record["loss"]))
        score = record["dev_score"]
        scores.append(None if score is None else float(score))
        if score is not None:
            metric = record["dev_metric"]
            if record["improved"]:
                best = record["epoch"]
    return Curve(source, epochs, loss, scores, metric, best)


def _problem(record: Any) -> str | None:
    """What is wrong with one epoch's record, or None."""
    if not isinstance(record, dict):
        return "an epoch record must be a JSON object"
    number = (int, float)
    checks = (
        (
            "epoch",
            lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
            "an int >= 1",
        ),
        ("loss", lambda v: isinstance(v, number) and not isinstance(v, bool), "a number"),
        ("dev_metric", lambda v: isinstance(v, str), "a string"),
        (
            "dev_score",
            lambda v: v is None or (isinstance(v, number) and not isinstance(v, bool)),
            "a number or null",
        ),
        ("improved", lambda v: isinstance(v, bool), "true or false"),
    )
    for key, valid, expected in checks:
        if key not in record:
            return f"epoch record has no {key!r}"
        if not valid(record[key]):
            return f"{key!r} must be {expected}, not {json.dumps(record[key])}"
    return None


def draw_curve(curve: Curve) -> Figure:
    """Draw a curve: dev score above (when there is dev data), training loss below, the best
    epoch marked on both.

    Args:
        curve: What to draw.

    Returns:
        The matplotlib figure, attached to the non-interactive Agg canvas.

    Raises:
        RnntagError: matplotlib is not installed.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise UsageError(
            "drawing training curves needs matplotlib: pip install 'rnntag[plot]'"
        ) from None

    # A bare Figure, not pyplot: no global figure registry to leak into, no display needed.
    dev = [
        (e, 100 * s) for e, s in zip(curve.epochs, curve.dev_score, strict=True) if s is not None
    ]
    figure = Figure(figsize=(7, 5.2 if dev else 3.2), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(2 if dev else 1, 1, sharex=True, squeeze=False)[:, 0]
    figure.suptitle(f"Training curve: {curve.model_name}", fontweight="bold")
    if dev:
        top = axes[0]
        top.plot(*zip(*dev, strict=True), marker="o", markersize=4, color="tab:green")
        top.set_ylabel(f"dev {curve.dev_metric} (%)")
        scores = [score for _, score in dev]
        if max(scores) - min(scores) < FLAT:
            # Left to itself, matplotlib spans a flat line over +-0.04 of a point.
            top.set_ylim(max(0.0, scores[0] - 5), min(101.0, scores[0] + 5))
    axes[-1].plot(curve.epochs, curve.loss, marker="o", markersize=4, color="tab:blue")
    axes[-1].set_ylabel("training loss per sentence")
    axes[-1].set_xlabel("epoch")
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes:
        ax.grid(True, color="0.9")
        ax.spines[["top", "right"]].set_visible(False)
    if dev and curve.best_score is not None:
        best_score = 100 * curve.best_score
        for ax in axes:
            ax.axvline(curve.best_epoch, color="0.45", linestyle=":", linewidth=1.2)
        axes[0].plot(
            [curve.best_epoch],
            [best_score],
            "*",
            markersize=14,
            color="tab:orange",
            label=f"best: {best_score:.2f} at epoch {curve.best_epoch} (saved)",
        )
        # Dev scores rise early and level off, which leaves the lower right corner empty; an
        # opaque box hides the marker line behind the label.
        axes[0].legend(loc="lower right", framealpha=1, edgecolor="none")
    return figure


def plot_curve(curve: Curve, output: Path) -> Figure:
    """Draw a curve and write it atomically as PNG or SVG, chosen by `output`'s extension.

    Args:
        curve: What to draw.
        output: Image file, `.png` or `.svg`; its folder must exist.

    Returns:
        The figure written.

    Raises:
        RnntagError: Another extension, a missing folder, matplotlib missing, or a write
            error.
    """
    fmt = FORMATS.get(output.suffix.lower())
    if fmt is None:
        raise UsageError(f"the file name must end in {' or '.join(FORMATS)}", str(output))
    if not output.parent.is_dir():
        raise RnntagError("output folder not found", str(output.parent))
    figure = draw_curve(curve)
    atomic_write(output, lambda tmp: figure.savefig(tmp, format=fmt, dpi=PNG_DPI))
    return figure
