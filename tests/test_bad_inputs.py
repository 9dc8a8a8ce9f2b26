"""What rnntag does with bad input: one line on stderr naming file and line, exit code 1 for
bad data or models and 2 for bad usage, no traceback, and nothing written or lost."""

from __future__ import annotations

import contextlib
import json
import pickle
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import DATA, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MODEL = DATA.parent / "models" / "en-ner-conll03"
TAB = "\t"
CONLLU_WORD = "1\tHi\t_\tINTJ\t_\t_\t_\t_\t_\t_\n"


class Payload:
    """Unpickling this would create the marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


# (id, files to write, arguments, exit code, message fragment, file:line the message names)
CASES = [
    ("invalid-utf8", {"t.conll": b"a\tO\nb\tO\nc\xff\tO\n"}, ["train", "t.conll"], 1,
     "cannot decode byte 0xff", "t.conll:3"),
    ("ragged-columns", {"t.conll": b"a\tO\nb\tO\tX\n"}, ["train", "t.conll"], 1,
     "expected 2 columns", "t.conll:2"),
    ("no-tag-column", {"t.conll": b"a\nb\n"}, ["train", "t.conll"], 1, "no tag column",
     "t.conll:1"),
    ("tag-column-out-of-range", {"t.conll": b"a\tO\n"}, ["train", "t.conll", "--tag-column", "4"],
     1, "out of range", "t.conll:1"),
    ("space-tab-mixture", {"t.conll": b"New York\tB-LOC\nis big O\n"}, ["train", "t.conll"], 1,
     "expected 2 columns", "t.conll:2"),
    ("breaks-declared-iob2", {"t.conll": b"a\tO\nb\tI-PER\n"},
     ["train", "t.conll", "--scheme", "IOB2"], 1, "I-PER after O breaks the declared IOB2",
     "t.conll:2"),
    ("conllu-field-count", {"t.conllu": b"1\tHi\t_\tINTJ\n"}, ["train", "t.conllu"], 1,
     "expected 10 tab-separated fields", "t.conllu:1"),
    ("conllu-bad-id", {"t.conllu": CONLLU_WORD.replace("1", "one", 1).encode()},
     ["train", "t.conllu"], 1, "is not a number", "t.conllu:1"),
    ("conllu-no-upos", {"t.conllu": b"# c\n" + CONLLU_WORD.replace("INTJ", "_").encode()},
     ["train", "t.conllu"], 1, "no upos tag", "t.conllu:2"),
    ("conllu-read-as-conll", {"t.conllu": b"# sent_id = a1\n" + CONLLU_WORD.encode()},
     ["train", "t.conllu", "--format", "conll"], 1, "looks like CoNLL-U (read it with --format",
     "t.conllu:2"),
    ("misaligned-pred", {"g.conll": b"a\tO\nb\tO\n", "p.conll": b"a\tO\nc\tO\n"},
     ["eval", "--gold", "g.conll", "--pred", "p.conll"], 1, "do not line up", "p.conll:1"),
    ("no-such-file", {}, ["train", "nothing.conll"], 1, "No such file", "nothing.conll"),
    ("out-inside-a-file", {"t.conll": b"a\tO\n", "f": b""}, ["train", "t.conll", "-o", "f/m"], 1,
     "cannot write the model directory", "f/m"),
    ("bad-option-value", {"t.conll": b"a\tO\n"}, ["train", "t.conll", "--rnn", "lstmx"], 2,
     "--rnn", None),
    ("unknown-encoding", {"t.conll": b"a\tO\n"}, ["train", "t.conll", "--encoding", "nope"], 2,
     "unknown encoding", None),
    ("infinite-lr", {"t.conll": b"a\tO\n"}, ["train", "t.conll", "--lr", "inf"], 2,
     "train.lr = inf is not a finite number", None),
    ("nan-lr-decay", {"t.conll": b"a\tO\n"}, ["train", "t.conll", "--lr-decay", "nan"], 2,
     "train.lr_decay = nan is not a finite number", None),
    *(
        (f"setting-{option}={value}", {"t.conll": b"a\tO\n"}, ["train", "t.conll", option, value],
         2, f"train.{option[2:].replace('-', '_')} = ", None)
        for option, value in [
            ("--epochs", "0"), ("--epochs", "-3"), ("--patience", "0"), ("--batch-size", "0"),
            ("--batch-size", "-5"), ("--lr", "-1"), ("--lr", "0"), ("--momentum", "-1"),
            ("--weight-decay", "-1"), ("--lr-decay", "-1"), ("--clip", "-1"),
            ("--unk-replace", "2"), ("--seed", "99999999999999999999"), ("--threads", "-1"),
        ]
    ),
    ("model-size-zero", {"t.conll": b"a\tO\n"}, ["train", "t.conll", "--hidden-size", "0"], 2,
     "model.hidden_size = 0 is outside", None),
    *(
        (f"codec-{codec}", {"t.conll": b"a\tO\n"}, ["train", "t.conll", "--encoding", codec], 2,
         message, None)
        for codec, message in [
            ("rot13", "'rot13' is not a text encoding"), ("hex", "'hex' is not a text encoding"),
            ("base64", "'base64' is not a text encoding"), ("idna", "'idna' cannot read text"),
        ]
    ),
    ("utf-16-without-bom", {"t.conll": b"a\tO\n"}, ["train", "t.conll", "--encoding", "utf-16"],
     1, "not valid utf-16 (UTF-16 stream does not start with BOM)", "t.conll:1"),
    *(
        (f"word2vec-header-{header.decode()}", {"t.conll": b"a\tO\n", "v.bin": header + b"\nab"},
         ["train", "t.conll", "--embeddings", "v.bin"], 1, message, "v.bin:1")
        for header, message in [
            (b"2 0", "header gives vectors of 0 numbers"),
            (b"1 100000000000", "header gives vectors of 100000000000 numbers"),
            (b"1 -5", "must start with 'count dim'"),
        ]
    ),
    ("long-out", {"t.conll": b"a\tO\n"}, ["train", "t.conll", "-o", "a" * 300], 1,
     "File name too long", "a" * 300),
    ("long-model", {"t.txt": b"Hi.\n"}, ["tag", "-m", "m" * 300, "t.txt"], 1,
     "File name too long", "m" * 300),
    ("long-input", {}, ["tag", "-m", "pos", "i" * 300], 1, "File name too long", "i" * 300),
    ("resume-without-a-folder", {"t.conll": b"a\tO\n"}, ["train", "t.conll", "--resume"], 1,
     "no checkpoint to resume from", "out/checkpoint"),
    ("pos-file-for-a-ner-model", {"p.conllu": (DATA / "pos-dev.conllu").read_bytes()},
     ["eval", "-m", "ner", "p.conllu"], 1, "'PRON' is no span tag, but the model tags entity",
     "p.conllu:1"),
    ("pos-prediction-against-ner-gold",
     {"g.conll": b"Ada\tB-PER\nspoke\tO\n", "p.conll": b"Ada\tPROPN\nspoke\tVERB\n"},
     ["eval", "--gold", "g.conll", "--pred", "p.conll"], 1,
     "'PROPN' is no span tag, but the gold tags are IOB2 spans", "p.conll:1"),
    ("scheme-for-plain-tags", {"g.conll": b"Ada\tPROPN\n", "p.conll": b"Ada\tPROPN\n"},
     ["eval", "--gold", "g.conll", "--pred", "p.conll", "--scheme", "IOB2"], 1,
     "'PROPN' is no span tag, but --scheme says IOB2", "g.conll:1"),
    ("ner-file-for-a-pos-model", {"n.conll": b"Ada\tB-PER\nspoke\tO\n"},
     ["eval", "-m", "pos", "n.conll"], 1, "none of its labels (B-PER, O) is one the model knows",
     "n.conll"),
    ("dev-types-never-in-training",
     {"t.conll": b"Ada\tB-PER\nspoke\tO\n", "d.conll": b"Paris\tB-LOC\nis\tO\n"},
     ["train", "t.conll", "--dev", "d.conll"], 1,
     "none of its entity types (LOC) occurs in the training data", "d.conll"),

]  # fmt: skip


@pytest.mark.parametrize(
    ("files", "args", "code", "message", "where"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_bad_data_and_usage(tmp_path, monkeypatch, capsys, files, args, code, message, where):
    monkeypatch.chdir(tmp_path)
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    before = sorted(p.name for p in tmp_path.iterdir())
    if args[0] == "train" and "-o" not in args:
        args = [*args, "-o", "out"]
    exit_code = run(*args)
    err = capsys.readouterr().err
    assert exit_code == code, err
    assert message in err
    assert "Traceback" not in err
    if where is not None:
        # One line, after at most the line that says what training starts on.
        *before_error, error = err.strip().splitlines()
        assert error.startswith(f"rnntag: error: {where}")
        assert [line for line in before_error if not line.startswith("training on ")] == []
    # Nothing was written: no model directory, no other file.
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("payload", [False, True], ids=["truncated", "pickle"])
def test_a_damaged_model_is_one_line_on_stderr_and_touched_by_nothing(tmp_path, capsys, payload):
    # Every kind of damage is refused at the library level (tests/test_modelfile.py); here,
    # what the command line makes of it.
    model = tmp_path / "model"
    shutil.copytree(MODEL, model)
    weights = model / "model.safetensors"
    marker = tmp_path / "marker"
    content = pickle.dumps(Payload(marker)) if payload else weights.read_bytes()[:1000]
    weights.write_bytes(content)
    text = tmp_path / "in.txt"
    text.write_text("Ada Lovelace was born in London.\n", encoding="utf-8")
    before = {p.name: p.read_bytes() for p in model.iterdir()}
    code = run("tag", "-m", str(model), str(text))
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnntag: error: "), captured.err
    assert "cannot read model weights" in lines[0] and str(model) in lines[0]
    assert not marker.exists()
    assert {p.name: p.read_bytes() for p in model.iterdir()} == before


def test_dev_labels_some_never_in_training_are_one_warning(tmp_path, capsys):
    train, dev = tmp_path / "t.conll", tmp_path / "d.conll"
    train.write_text("Ada\tB-PER\nspoke\tO\n", encoding="utf-8")
    dev.write_text("Paris\tB-LOC\nis\tO\n\nBob\tB-PER\n", encoding="utf-8")

    assert run("train", train, "--dev", dev, "-o", tmp_path / "m", "--epochs", "1") == 0

    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert warnings == [
        f"rnntag: warning: {dev} has entity types the training data lacks, never predicted: LOC"
    ]


def test_gold_labels_the_model_never_saw_are_reported(tmp_path, capsys):
    gold = tmp_path / "gold.conll"
    gold.write_text("Ada\tB-PERSON\nwrote\tO\nin\tO\nParis\tB-LOC\n", encoding="utf-8")
    code = run("eval", "-m", "ner", str(gold), "--json")
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["unknown_gold_labels"] == ["B-PERSON"]


def test_debug_shows_the_traceback(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.conll").write_bytes(b"a\tO\nb\tO\tX\n")
    with pytest.raises(Exception, match="expected 2 columns"):
        run("train", "t.conll", "-o", "out", "--debug")


@pytest.mark.parametrize(
    "text",
    [" ".join(["word"] * 10_000) + "\n", "x" * 100_000 + " and more.\n"],
    ids=["10000-token-sentence", "100000-character-token"],
)
def test_huge_sentences_and_tokens_are_tagged_whole(tmp_path, capsys, text):
    path = tmp_path / "huge.txt"
    path.write_text(text, encoding="utf-8")
    assert run("tag", "-m", "ner", "--input", "tokens", path) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines() if line]
    assert [row[0] for row in rows] == text.split()


def _no_constants(name: str) -> float:
    raise AssertionError(f"not JSON: {name}")


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("empty-conll-field.conll", "Paris\tO\n\tO\nnice\tO\n"),
        ("space-conll-field.conll", "Paris\tO\n\u00a0\tO\nnice\tO\n"),
        ("empty-conllu-form.conllu", CONLLU_WORD + "2\t\t_\tX\t_\t_\t_\t_\t_\t_\n"),
    ],
)
def test_tokens_without_characters_are_tagged_with_finite_scores(tmp_path, capsys, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    fmt = "conllu" if name.endswith(".conllu") else "conll"
    assert run("tag", "-m", "ner", "--input", fmt, "--output", "jsonl", "--scores", path) == 0
    for line in capsys.readouterr().out.splitlines():
        record = json.loads(line, parse_constant=_no_constants)
        assert all(0.0 <= p <= 1.0 for p in record["scores"]["ner"])


@pytest.mark.parametrize("number", ["nan", "-inf", "1e39"])
def test_vectors_that_are_not_finite_are_refused_before_training(tmp_path, capsys, number):
    (tmp_path / "t.conll").write_text("ada\tB-PER\nlovelace\tI-PER\n", encoding="utf-8")
    vectors = tmp_path / "v.txt"
    vectors.write_text(f"ada 0.5 0.25\nlovelace 0.25 {number}\n", encoding="utf-8")
    out = tmp_path / "out"
    assert run("train", tmp_path / "t.conll", "-o", out, "--embeddings", vectors) == 1
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith(f"rnntag: error: {vectors}:2: vector holds")
    assert not (out / "config.json").exists()


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        # More labels than a model may hold: refused before the first step, not after an epoch.
        ([f"w{i}\tT{i}" for i in range(2001)], "2001 labels is more than 2000"),
        # A CoNLL-U XPOS with a space: no output format could be read back.
        (["Ada\tNN X", "ran\tVB"], "holds white space"),
    ],
)
def test_limits_of_a_saved_model_are_checked_before_training(tmp_path, capsys, rows, message):
    train = tmp_path / "t.conll"
    train.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    assert run("train", train, "-o", out, "--epochs", "1", "--hidden-size", "8") == 1
    err = capsys.readouterr().err
    assert "epoch 1" not in err
    assert message in err.splitlines()[-1]
    assert not (out / "config.json").exists()


def test_training_stops_at_the_first_loss_that_is_not_finite(tmp_path, capsys):
    # A finite learning rate so large that the second batch's loss overflows.
    out = tmp_path / "out"
    args = ["--lr", "1e30", "--batch-size", "4", "--epochs", "1", "--hidden-size", "8"]
    assert run("train", DATA / "ner-train.conll", "-o", out, *args) == 1
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith(f"rnntag: error: {out}: the training loss became")
    assert "in epoch 1" in last
    assert not (out / "config.json").exists()


def test_training_stops_when_a_step_makes_a_weight_infinite(tmp_path, capsys):
    # 1e39 is finite as a setting but infinite in float32: the first (and only) step of the
    # epoch makes the weights infinite, with no loss computed after it.
    (tmp_path / "t.conll").write_text("ada\tB-PER\nlovelace\tI-PER\n", encoding="utf-8")
    out = tmp_path / "out"
    assert run("train", tmp_path / "t.conll", "-o", out, "--lr", "1e39", "--epochs", "1") == 1
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith(f"rnntag: error: {out}: weight ")
    assert "is no longer finite after epoch 1" in last
    assert not (out / "config.json").exists()


@pytest.mark.parametrize(
    "args",
    [["tag", "-m", "pos", str(DATA / "sentences.txt")], ["info", "ner"],
     ["eval", "-m", "ner", str(DATA / "ner-dev.conll")]],
    ids=["tag", "info", "eval"],
)  # fmt: skip
@pytest.mark.parametrize(
    ("output", "message"),
    [("/dev/full", "No space left on device"), (None, "closed, so the results have nowhere to go")],
    ids=["full", "closed"],
)
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_output_that_cannot_be_written_is_one_line_and_exit_1(
    monkeypatch, capsys, args, output, message
):
    stream = None if output is None else open(output, "w")  # noqa: SIM115
    monkeypatch.setattr(sys, "stdout", stream)
    code = run(*args)
    monkeypatch.undo()
    if stream is not None:
        # What the failed write left in the buffer fails again here; a process's exit
        # drops it (checked by hand: `rnntag tag ... > /dev/full` says one line, exit 1).
        with contextlib.suppress(OSError):
            stream.close()

    assert code == 1
    assert capsys.readouterr().err == f"rnntag: error: standard output: {message}\n"


def test_closed_standard_input_is_one_line_and_exit_1(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", None)

    assert run("tag", "-m", "pos") == 1
    assert capsys.readouterr().err == (
        "rnntag: error: -: standard input is closed; give the input as a file\n"
    )


def _json_paths(value: Any, path: tuple = ()) -> list[tuple]:
    """The path of every value inside parsed JSON (long lists: their first items only)."""
    paths = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            paths += _json_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):
            paths += _json_paths(item, (*path, index))
    return paths


SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
JSON_VALUES = st.recursive(
    SCALARS | st.sampled_from([-1, 0, 10**30, 2**63, "nan", [], {}]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=5,
)


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A training stopped after its first batch, with its checkpoint."""
    import rnntag
    from rnntag.training.signals import TrainingInterrupted

    out = tmp_path_factory.mktemp("interrupted") / "model"
    settings = {"epochs": 2, "hidden_size": 8, "char_hidden": 8, "word_dim": 8, "threads": 1}
    with pytest.raises(TrainingInterrupted):
        rnntag.train(DATA / "ner-train.conll", out, should_stop=lambda: True, **settings)
    return out


def _resume(out: Path) -> int:
    """Resume the small training of the `interrupted` fixture in `out`."""
    return run(
        "train", DATA / "ner-train.conll", "-o", out, "--resume", "--epochs", "2",
        "--hidden-size", "8", "--char-hidden", "8", "--word-dim", "8", "--threads", "1",
    )  # fmt: skip


@pytest.mark.slow
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_hand_edited_checkpoint_resumes_or_is_refused_in_one_line(
    interrupted, tmp_path_factory, capsys, data
):
    out = tmp_path_factory.mktemp("edited") / "model"
    shutil.copytree(interrupted, out)
    state_file = out / "checkpoint" / "state.json"
    state = json.loads(state_file.read_text(encoding="utf-8"))
    *parents, last = data.draw(st.sampled_from(_json_paths(state)[1:]), label="path")
    container = state
    for key in parents:
        container = container[key]
    if isinstance(container, dict) and data.draw(st.booleans(), label="delete"):
        del container[last]
    else:
        container[last] = data.draw(JSON_VALUES, label="value")
    state_file.write_text(json.dumps(state), encoding="utf-8")
    capsys.readouterr()

    code = _resume(out)

    err = capsys.readouterr().err
    assert code in (0, 1, 2), err
    if code:
        assert err.splitlines()[-1].startswith("rnntag: error: "), err


@pytest.mark.parametrize(
    ("labels", "says"),
    [
        # The weights no longer fit: torch's message has a line per tensor.
        (lambda labels: labels[:-1], "size mismatch for emissions.weight"),
        (lambda labels: ["", *labels[1:]], "a label is the empty string"),
    ],
)
def test_a_checkpoint_whose_labels_were_edited_is_refused_in_one_line(
    interrupted, tmp_path, capsys, labels, says
):
    out = tmp_path / "model"
    shutil.copytree(interrupted, out)
    state_file = out / "checkpoint" / "state.json"
    state = json.loads(state_file.read_text(encoding="utf-8"))
    state["info"]["vocab"]["labels"] = labels(state["info"]["vocab"]["labels"])
    state_file.write_text(json.dumps(state), encoding="utf-8")
    capsys.readouterr()

    code = _resume(out)

    err = capsys.readouterr().err
    assert code == 1
    assert err.splitlines()[-1].startswith("rnntag: error: ") and says in err.splitlines()[-1]


def test_a_bad_line_late_in_a_stream_ends_output_after_whole_correct_sentences(tmp_path, capsys):
    good = "".join(f"{i}\tO\n\n" for i in range(9_000))
    whole, cut = tmp_path / "whole.conll", tmp_path / "cut.conll"
    whole.write_text(good, encoding="utf-8")
    cut.write_text(good + "bad\tO\tO\n", encoding="utf-8")
    assert run("tag", "-m", "pos", "--input", "conll", whole) == 0
    expected = capsys.readouterr().out

    assert run("tag", "-m", "pos", "--input", "conll", cut) == 1

    out, err = capsys.readouterr()
    assert err == f"rnntag: error: {cut}:18001: expected 2 columns as on line 1, found 3\n"
    # Streamed: some chunks went out before the bad line was read, each of whole sentences
    # tagged as without the error.
    assert out and out.endswith("\n\n") and expected.startswith(out)
