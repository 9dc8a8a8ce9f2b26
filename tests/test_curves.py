"""Training curves: `metrics.jsonl` written by training and read back (or `results.history`
from older models), `rnntag plot` images, and the text curve of `rnntag info`."""

from __future__ import annotations

import io
import json
import re
import shutil
import struct
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import DATA, run
from rich.console import Console

from rnntag.console.sparklines import print_curve
from rnntag.errors import RnntagError
from rnntag.evaluation.curves import Curve, draw_curve, read_curve
from rnntag.model.directory import CONFIG_FILE, METRICS_FILE, resolve_model

EPOCH_KEYS = {
    "epoch", "loss", "dev_metric", "dev_score", "improved", "seconds", "tokens_per_second", "lr",
}  # fmt: skip
MEMORY_METRIC = "mean span F1"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SHIPPED_NER = resolve_model("ner")


def record(epoch: int, loss: float, score: float | None, improved: bool) -> dict:
    """One epoch's line as training writes it."""
    return {
        "epoch": epoch, "loss": loss, "dev_metric": "span F1" if score is not None else "loss",
        "dev_score": score, "improved": improved, "seconds": 1.5, "tokens_per_second": 900.0,
        "lr": 0.002,
    }  # fmt: skip


def write_lines(directory: Path, lines: list[str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / METRICS_FILE
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def jsonl(path: Path) -> list[dict]:
    """The records of a JSON-lines file, parsed independently of rnntag."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# A model directory of format 1, whose config.json holds the epochs as results.history.
FORMAT_1 = Path(__file__).resolve().parent / "fixtures" / "v1-tiny-ner"


def strip_history(model: Path) -> None:
    """Make `model` look trained before curves were recorded anywhere."""
    (model / METRICS_FILE).unlink(missing_ok=True)
    config = json.loads((model / CONFIG_FILE).read_text(encoding="utf-8"))
    config["results"].pop("history", None)
    (model / CONFIG_FILE).write_text(json.dumps(config), encoding="utf-8")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny NER model trained for exactly 2 epochs on the samples (a few seconds)."""
    out = tmp_path_factory.mktemp("curves") / "ner"
    code = run(
        "train", DATA / "ner-train.conll", "--dev", DATA / "ner-dev.conll", "-o", out,
        "--epochs", "2", "--patience", "5", "--hidden-size", "8", "--char-hidden", "8",
        "--word-dim", "16", "--batch-size", "16", "--threads", "1", "--seed", "1",
    )  # fmt: skip
    assert code == 0
    return out


@pytest.mark.slow
def test_training_writes_one_metrics_line_per_epoch(trained):
    records = jsonl(trained / METRICS_FILE)

    assert [r["epoch"] for r in records] == [1, 2]
    # The samples mark documents: a document-memory model, scored both ways on dev.
    assert all(set(r) == {*EPOCH_KEYS, "dev_situations"} for r in records)
    assert all(r["dev_metric"] == MEMORY_METRIC and 0.0 <= r["dev_score"] <= 1.0 for r in records)
    assert all(set(r["dev_situations"]) == {"documents", "sentences"} for r in records)
    # The epochs are in metrics.jsonl alone.
    config = json.loads((trained / CONFIG_FILE).read_text(encoding="utf-8"))
    assert "history" not in config["results"]
    assert config["results"]["epochs_run"] == len(records)


def test_read_curve_from_metrics_jsonl(tmp_path):
    lines = [
        json.dumps(record(1, 3.0, 0.5, True)),
        json.dumps(record(2, 2.0, 0.7, True)),
        "",  # a blank line is skipped
        json.dumps(record(3, 1.5, 0.6, False)),
    ]
    path = write_lines(tmp_path / "model", lines)

    curve = read_curve(tmp_path / "model")

    assert curve.source == path
    assert curve.epochs == [1, 2, 3]
    assert curve.loss == [3.0, 2.0, 1.5]
    assert curve.dev_score == [0.5, 0.7, 0.6]
    assert curve.dev_metric == "span F1"
    # The saved model is that of the last epoch that improved on dev.
    assert (curve.best_epoch, curve.best_score) == (2, 0.7)
    assert curve.model_name == "model"


def test_read_curve_without_dev_data_has_no_best_epoch(tmp_path):
    write_lines(tmp_path, [json.dumps(record(e, 1.0 / e, None, True)) for e in (1, 2)])

    curve = read_curve(tmp_path)

    assert curve.dev_score == [None, None]
    assert (curve.dev_metric, curve.best_epoch, curve.best_score) == (None, None, None)


GOOD = json.dumps(record(1, 2.0, 0.5, True))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('{"epoch": 2, "loss": ', "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        (json.dumps({k: v for k, v in record(2, 1.0, 0.6, True).items() if k != "loss"}), "'loss'"),
        (json.dumps(record(2, 1.0, 0.6, True) | {"loss": "low"}), "'loss' must be a number"),
        (json.dumps(record(2, 1.0, 0.6, True) | {"epoch": True}), "'epoch' must be an int"),
        (json.dumps(record(2, 1.0, 0.6, True) | {"dev_score": "90"}), "'dev_score' must be"),
        (json.dumps(record(2, 1.0, 0.6, True) | {"improved": 1}), "'improved' must be"),
        (json.dumps(record(1, 1.0, 0.6, True)), "epoch 1 comes after epoch 1"),
    ],
    ids=[
        "json",
        "not-object",
        "missing-key",
        "loss-type",
        "bool-epoch",
        "score-type",
        "improved-type",
        "epoch-order",
    ],
)
def test_malformed_line_is_refused_with_file_and_line(tmp_path, bad, message):
    path = write_lines(tmp_path, [GOOD, "", bad])

    with pytest.raises(RnntagError) as raised:
        read_curve(tmp_path)

    assert (raised.value.path, raised.value.line) == (str(path), 3)
    assert message in raised.value.message
    assert str(raised.value).startswith(f"{path}:3: ")


def test_empty_metrics_file_is_refused(tmp_path):
    path = write_lines(tmp_path, [""])

    with pytest.raises(RnntagError, match="no epochs recorded") as raised:
        read_curve(tmp_path)
    assert raised.value.path == str(path)


def test_missing_metrics_file_and_directory_are_refused(tmp_path):
    with pytest.raises(RnntagError, match="no training curve: file not found") as raised:
        read_curve(tmp_path)
    assert raised.value.path == str(tmp_path / METRICS_FILE)

    with pytest.raises(RnntagError, match="model directory not found"):
        read_curve(tmp_path / "absent")


def test_format_1_models_fall_back_to_the_history_in_config(tmp_path):
    old = tmp_path / "old"
    shutil.copytree(FORMAT_1, old)
    (old / METRICS_FILE).unlink()

    curve = read_curve(old)
    expected = read_curve(FORMAT_1)

    assert curve.source == old / CONFIG_FILE
    assert (curve.epochs, curve.loss, curve.dev_score) == (
        expected.epochs,
        expected.loss,
        expected.dev_score,
    )
    assert curve.best_epoch == json.loads((old / CONFIG_FILE).read_text())["results"]["best_epoch"]


def test_malformed_history_in_config_names_the_entry(tmp_path):
    old = tmp_path / "old"
    shutil.copytree(FORMAT_1, old)
    (old / METRICS_FILE).unlink()
    config = json.loads((old / CONFIG_FILE).read_text(encoding="utf-8"))
    config["results"]["history"][1]["loss"] = None
    (old / CONFIG_FILE).write_text(json.dumps(config), encoding="utf-8")

    with pytest.raises(RnntagError, match=r"results.history\[1\]: 'loss' must be a number"):
        read_curve(old)


@pytest.mark.slow
def test_model_without_any_history_is_refused(trained, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(trained, old)
    strip_history(old)

    with pytest.raises(RnntagError, match=r"config\.json has no results\.history"):
        read_curve(old)


def test_drawing_puts_one_point_per_epoch_and_marks_the_best():
    records = jsonl(SHIPPED_NER / METRICS_FILE)
    config = json.loads((SHIPPED_NER / CONFIG_FILE).read_text(encoding="utf-8"))

    figure = draw_curve(read_curve(SHIPPED_NER))

    score_axes, loss_axes = figure.axes
    score_line, best_marker = score_axes.lines[0], score_axes.lines[-1]
    assert list(score_line.get_xdata()) == [r["epoch"] for r in records]
    assert list(score_line.get_ydata()) == pytest.approx([100 * r["dev_score"] for r in records])
    assert list(loss_axes.lines[0].get_ydata()) == pytest.approx([r["loss"] for r in records])
    best = config["results"]["best_epoch"]
    assert list(best_marker.get_xdata()) == [best]
    assert list(best_marker.get_ydata()) == pytest.approx([100 * config["results"]["dev_score"]])


@pytest.mark.parametrize("score", [0.0, 0.5, 1.0])
def test_a_flat_dev_curve_is_drawn_on_a_scale_of_points(score):
    curve = Curve(Path("m/metrics.jsonl"), [1, 2, 3], [3.0, 2.0, 1.0], [score] * 3, "F1", 1)

    low, high = draw_curve(curve).axes[0].get_ylim()

    assert 0 <= low <= 100 * score <= high <= 101
    assert high - low >= 5


def test_drawing_without_dev_data_has_only_the_loss_panel():
    curve = Curve(Path("m/metrics.jsonl"), [1, 2, 3], [3.0, 2.0, 1.0], [None] * 3, None, None)

    figure = draw_curve(curve)

    assert len(figure.axes) == 1
    assert list(figure.axes[0].lines[0].get_ydata()) == [3.0, 2.0, 1.0]


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, which must come first."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_plot_command_writes_a_png(tmp_path, capsys):
    out = tmp_path / "curves.png"

    assert run("plot", "ner", "-o", out) == 0

    data = out.read_bytes()
    width, height = png_size(data)
    assert width > 500 and height > 300
    assert data.endswith(b"IEND\xaeB`\x82")
    assert f"written to {out}" in capsys.readouterr().err
    # The atomic write left no temporary file behind.
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]


@pytest.mark.slow
def test_plot_command_writes_an_svg(trained, tmp_path):
    out = tmp_path / "curves.svg"

    assert run("plot", trained, "--out", out) == 0

    root = ET.parse(out).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "Training curve: ner" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["plot", "ner", "-o", "curves.pdf"], 2, "must end in .png or .svg"),
        (["plot", "no-such-model", "-o", "curves.png"], 1, "no-such-model: model directory"),
        (["plot", "ner", "-o", "no-such-folder/c.png"], 1, "output folder not found"),
    ],
    ids=["extension", "model", "folder"],
)
def test_plot_command_errors(tmp_path, monkeypatch, capsys, args, code, message):
    monkeypatch.chdir(tmp_path)

    assert run(*args) == code

    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_plot_without_matplotlib_says_what_to_install(tmp_path, monkeypatch, capsys):
    # A None entry makes `import` fail as if the package were not installed; submodules
    # already imported by other tests are hidden too.
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "curves.png"

    # A missing extra is a usage error, as for export and serve.
    assert run("plot", "ner", "-o", out) == 2

    err = capsys.readouterr().err
    assert "pip install 'rnntag[plot]'" in err
    assert "Traceback" not in err
    assert not out.exists()


def curve_rows(output: str) -> dict[str, str]:
    """The rows under `Training curve` in `rnntag info` output: label -> rest of the line."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Training curve ("))
    rows = {}
    for line in lines[start + 1 :]:
        if line.strip():
            label, _, rest = line.strip().partition("  ")
            rows[label] = rest.strip()
    return rows


def test_info_shows_the_shipped_models_curve(capsys):
    records = jsonl(SHIPPED_NER / METRICS_FILE)
    best = json.loads((SHIPPED_NER / CONFIG_FILE).read_text())["results"]["best_epoch"]

    assert run("info", "ner") == 0

    output = capsys.readouterr().out
    assert f"Training curve (metrics.jsonl, epochs 1-{len(records)})" in output
    rows = curve_rows(output)
    metric = records[0]["dev_metric"]
    spark = rows[f"dev {metric}"].split()[0]
    assert len(spark) == len(records)
    scores = [r["dev_score"] for r in records]
    # The highest score is a full block, the lowest the smallest one.
    assert spark[scores.index(max(scores))] == "█"
    assert spark[scores.index(min(scores))] == "▁"
    losses = [r["loss"] for r in records]
    assert rows["training loss"].split()[0][losses.index(max(losses))] == "█"
    marker = rows["best epoch"].split()[0]
    assert marker.index("▲") == best - 1
    assert rows["best epoch"].endswith(f"{best}: {metric} {100 * max(scores):.2f}")


def test_curve_falls_back_to_ascii_where_blocks_cannot_be_encoded():
    buffer = io.BytesIO()
    stream = io.TextIOWrapper(buffer, encoding="ascii")
    best = json.loads((SHIPPED_NER / CONFIG_FILE).read_text())["results"]["best_epoch"]

    print_curve(Console(file=stream, width=80), read_curve(SHIPPED_NER))

    stream.flush()
    rows = curve_rows(buffer.getvalue().decode("ascii"))
    metric = jsonl(SHIPPED_NER / METRICS_FILE)[0]["dev_metric"]
    assert "#" in rows[f"dev {metric}"] and "_" in rows["training loss"]
    assert rows["best epoch"].index("^") == best - 1


def test_long_runs_share_characters_so_the_curve_fits_the_terminal():
    epochs = list(range(1, 126))
    scores = [min(e, 100) / 200 - (e > 100) * 0.01 for e in epochs]  # best at epoch 100
    curve = Curve(Path("m/metrics.jsonl"), epochs, [1 / e for e in epochs], scores, "F1", 100)
    out = io.StringIO()

    print_curve(Console(file=out, width=80), curve)

    assert "epochs 1-125, 3 epochs a character" in out.getvalue()
    rows = curve_rows(out.getvalue())
    assert len(rows["dev F1"].split()[0]) == 42  # ceil(125 / 3)
    assert rows["best epoch"].split()[0].index("▲") == (100 - 1) // 3


@pytest.mark.slow
def test_info_of_a_tiny_training_shows_two_epochs(trained, capsys):
    assert run("info", trained) == 0

    out = capsys.readouterr().out
    rows = curve_rows(out)
    assert len(rows[f"dev {MEMORY_METRIC}"].split()[0]) == 2
    assert len(rows["training loss"].split()[0]) == 2
    # Both schemes: the one the CRF learned in, the one `tag` writes.
    assert re.search(r"tag scheme in training\s+IOBES", out)
    assert re.search(r"tag scheme of its output\s+IOB2", out)
    assert re.search(r"training\s+2 epochs,", out)


@pytest.mark.slow
def test_info_without_a_curve_still_describes_the_model(trained, tmp_path, capsys):
    old = tmp_path / "old"
    shutil.copytree(trained, old)
    strip_history(old)

    assert run("info", old) == 0

    output = capsys.readouterr().out
    assert "best dev score" in output
    assert "no training curve" in output
    assert "Training curve (" not in output
