"""The `rnntag` command as a user runs it, through the console script's entry point.

Most commands run in this process (`run_captured`), since starting one costs seconds (torch,
seqeval); what only a real process shows (reading standard input, a traceback with
`--debug`) runs as a fresh `python -m rnntag`. Outputs that several tests read are produced
once by module-scoped fixtures.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from conftest import DATA, Result, rnntag, run, run_captured

from rnntag.io.schemes import convert, to_spans

# Most tests here need the trained models.
pytestmark = pytest.mark.slow

NER_TRAIN = DATA / "ner-train.conll"
NER_DEV = DATA / "ner-dev.conll"
POS_TRAIN = DATA / "pos-train.conllu"
POS_DEV = DATA / "pos-dev.conllu"
SENTENCES = DATA / "sentences.txt"
TRICKY_CONLLU = DATA / "tricky.conllu"

NER_F1_FLOOR = 0.75
POS_ACCURACY_FLOOR = 0.8
NER_TYPES = {"PER", "LOC", "ORG", "MISC"}
UPOS = {
    "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM",
    "PART", "PRON", "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X",
}  # fmt: skip


def succeeded(result: Result) -> str:
    """The stdout of a command that must have exited 0."""
    assert result.returncode == 0, result.stderr
    return result.stdout


def error_line(result: Result) -> str:
    """The single stderr line of a command that failed with a user error."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rnntag: error: ")
    return lines[0]


def conll_rows(text: str) -> list[list[list[str]]]:
    """Sentences of tab-separated rows, skipping -DOCSTART-; independent of rnntag's reader."""
    sentences = []
    for block in text.strip().split("\n\n"):
        rows = [line.split("\t") for line in block.splitlines()]
        rows = [row for row in rows if row[0] != "-DOCSTART-"]
        if rows:
            sentences.append(rows)
    return sentences


def model_config(model: Path) -> dict:
    """The parsed `config.json` of a model directory."""
    return json.loads((model / "config.json").read_text(encoding="utf-8"))


def is_iob2_ner_tag(tag: str) -> bool:
    """Whether `tag` is O or B-/I- with one of the sample's entity types, as the data is."""
    return tag == "O" or (tag[:2] in ("B-", "I-") and tag[2:] in NER_TYPES)


def micro_f1(eval_json: str) -> float:
    """Micro-averaged span F1 from `rnntag eval --json` output."""
    return json.loads(eval_json)["spans"]["micro avg"]["f1"]


@pytest.fixture(scope="module")
def ner_model(tiny_models: dict[str, Path]) -> Path:
    """A tiny IOB2 NER model trained on the sample data."""
    return tiny_models["ner"]


@pytest.fixture(scope="module")
def pos_model(tiny_models: dict[str, Path]) -> Path:
    """A tiny UPOS model trained on the sample data."""
    return tiny_models["pos"]


@pytest.fixture(scope="module")
def tagged(ner_model: Path, pos_model: Path) -> dict[str, Result]:
    """`rnntag tag` over the samples, by input and output format."""
    return {
        "stdin": rnntag(
            "tag", "-m", ner_model, "--input", "tokens", stdin=SENTENCES.read_text(encoding="utf-8")
        ),
        "two-models": run_captured(
            "tag", "-m", ner_model, "-m", pos_model, "--input", "tokens", SENTENCES, SENTENCES
        ),
        "conll": run_captured("tag", "-m", ner_model, "--input", "conll", NER_DEV),
        "conllu": run_captured(
            "tag", "-m", pos_model, "--input", "conllu", "--output", "conllu", TRICKY_CONLLU
        ),
    }


@pytest.fixture(scope="module")
def reports(ner_model: Path) -> dict[str, Result]:
    """`rnntag eval` and `rnntag info` of the NER model, as tables and as JSON."""
    return {
        "eval": run_captured("eval", "-m", ner_model, NER_DEV),
        "eval-json": run_captured("eval", "-m", ner_model, NER_DEV, "--json"),
        "info": run_captured("info", ner_model),
        "info-json": run_captured("info", ner_model, "--json"),
    }


def test_tag_tokens_from_stdin(tagged):
    sentences = conll_rows(succeeded(tagged["stdin"]))

    expected = [line.split() for line in SENTENCES.read_text(encoding="utf-8").splitlines()]
    assert [[row[0] for row in s] for s in sentences] == [t for t in expected if t]
    assert all(len(row) == 2 and is_iob2_ner_tag(row[1]) for s in sentences for row in s)
    assert tagged["stdin"].stderr == ""


def test_tag_file_arguments_with_two_models_give_two_tag_columns(tagged):
    one_model = conll_rows(succeeded(tagged["stdin"]))
    two_models = conll_rows(succeeded(tagged["two-models"]))

    assert all(len(row) == 3 for s in two_models for row in s)
    # The file was given twice; the first model's column is what it alone predicts on stdin.
    assert [[row[:2] for row in s] for s in two_models] == one_model + one_model
    assert {row[2] for s in two_models for row in s} <= UPOS


def test_tag_conll_input_keeps_tokens_and_replaces_tags(tagged):
    gold = conll_rows(NER_DEV.read_text(encoding="utf-8"))
    predicted = conll_rows(succeeded(tagged["conll"]))

    assert "-DOCSTART-" not in tagged["conll"].stdout
    assert [[row[0] for row in s] for s in predicted] == [[row[0] for row in s] for s in gold]
    assert all(len(row) == 2 and is_iob2_ner_tag(row[1]) for s in predicted for row in s)


def test_tag_conllu_to_conllu_keeps_everything_but_the_tags(tagged):
    original = TRICKY_CONLLU.read_text(encoding="utf-8").splitlines()
    written = succeeded(tagged["conllu"]).splitlines()

    assert len(written) == len(original)
    words = 0
    for before, after in zip(original, written, strict=True):
        fields = before.split("\t")
        if before.startswith("#") or not before or not fields[0].isdigit():
            # Comments, sentence breaks, the range 2-3 and the empty node 7.1.
            assert after == before
            continue
        words += 1
        new_fields = after.split("\t")
        assert new_fields[:3] + new_fields[4:] == fields[:3] + fields[4:]
        assert new_fields[3] in UPOS
    assert words == 14
    assert "2-3\tdon't" in tagged["conllu"].stdout
    assert "7.1\twent" in tagged["conllu"].stdout


def test_eval_table_names_types_and_scheme(reports):
    table = succeeded(reports["eval"])

    assert "30 sentences" in table
    assert "conlleval-compatible, scheme IOB2" in table
    for name in [*NER_TYPES, "micro avg", "token accuracy"]:
        assert name in table


def test_eval_json_scores_the_model_well(reports):
    result = json.loads(succeeded(reports["eval-json"]))

    assert result["sentences"] == 30
    assert result["scheme"] == "IOB2"
    assert result["spans"]["mode"] == "conlleval"
    assert set(result["spans"]["types"]) == NER_TYPES
    assert result["spans"]["micro avg"]["f1"] > NER_F1_FLOOR
    assert result["unknown_gold_labels"] == []


def test_eval_gold_against_tagged_output_matches_model_eval(tagged, reports, tmp_path):
    predicted = tmp_path / "predicted.conll"
    predicted.write_text(succeeded(tagged["conll"]), encoding="utf-8")

    result = run_captured("eval", "--gold", NER_DEV, "--pred", predicted, "--json")

    # The same tags scored by the same code: equal to the last bit.
    assert micro_f1(succeeded(result)) == micro_f1(succeeded(reports["eval-json"]))
    pair_eval, model_eval = json.loads(result.stdout), json.loads(reports["eval-json"].stdout)
    assert pair_eval["token_accuracy"] == model_eval["token_accuracy"]
    assert pair_eval["spans"]["types"] == model_eval["spans"]["types"]


def test_eval_strict_mode_refuses_spans_the_scheme_forbids(tmp_path):
    gold = tmp_path / "gold.conll"
    pred = tmp_path / "pred.conll"
    gold.write_text("Ada\tB-PER\nLovelace\tI-PER\nspoke\tO\n", encoding="utf-8")
    # IOB2 starts every span with B-; conlleval still counts a span that starts with I-.
    pred.write_text("Ada\tI-PER\nLovelace\tI-PER\nspoke\tO\n", encoding="utf-8")

    result = run_captured("eval", "--gold", gold, "--pred", pred, "--json", "--mode", "strict")

    # In the default mode this prediction scores 1.0 (conlleval counts the span).
    assert micro_f1(succeeded(result)) == 0.0
    assert json.loads(result.stdout)["spans"]["mode"] == "strict"


def test_info_table(reports, ner_model):
    table = succeeded(reports["info"])

    assert "tag scheme" in table
    assert model_config(ner_model)["scheme"] in table
    assert "B-PER" in table
    assert "model.hidden_size" in table
    assert "best dev score" in table


def test_info_json_is_the_model_config(reports, ner_model):
    info = json.loads(succeeded(reports["info-json"]))

    assert info == model_config(ner_model)
    assert info["model"]["hidden_size"] == 32
    assert {tag.split("-")[-1] for tag in info["labels"]} == NER_TYPES | {"O"}
    assert "vocab" not in info
    assert info["results"]["dev_score"] > NER_F1_FLOOR


def test_pos_model_was_selected_on_dev_accuracy(pos_model):
    results = model_config(pos_model)["results"]

    assert results["dev_metric"] == "accuracy"
    assert results["dev_score"] > POS_ACCURACY_FLOOR


def test_user_errors_are_one_line_naming_file_and_line(ner_model, tmp_path):
    ragged = tmp_path / "ragged.conll"
    ragged.write_text("Ada\tB-PER\nLovelace\tI-PER\n\nspoke\tO\tO\n", encoding="utf-8")
    tampered = tmp_path / "tampered"
    shutil.copytree(ner_model, tampered)
    config = tampered / "config.json"
    config.write_text(
        json.dumps({**model_config(ner_model), "format_version": 999}), encoding="utf-8"
    )
    gold = tmp_path / "gold.conll"
    pred = tmp_path / "pred.conll"
    gold.write_text("Ada\tB-PER\nspoke\tO\n\nBob\tB-PER\nlistened\tO\n", encoding="utf-8")
    pred.write_text("Ada\tB-PER\nspoke\tO\n\nBob\tB-PER\nleft\tO\n", encoding="utf-8")
    tag_ragged = ("tag", "-m", ner_model, "--input", "conll", ragged)
    cases = {
        "ragged input": (tag_ragged, f"{ragged}:4: expected 2 columns as on line 1, found 3"),
        "tampered model": (
            ("tag", "-m", tampered, ragged),
            f"{config}: model format version 999 is not supported",
        ),
        "misaligned pred": (
            ("eval", "--gold", gold, "--pred", pred),
            f"{pred}:4: tokens do not line up with {gold} line 4",
        ),
    }

    results = [run_captured(*args) for args, _ in cases.values()]
    debug = rnntag(*tag_ragged, "--debug")

    for (name, (_, message)), result in zip(cases.items(), results, strict=True):
        assert error_line(result).startswith(f"rnntag: error: {message}"), name
        assert result.stdout == "", name
    assert "first difference at token 2" in results[2].stderr
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr
    assert f"RnntagError: {cases['ragged input'][1]}" in debug.stderr


def test_usage_errors_exit_2_and_touch_nothing(ner_model, tmp_path):
    existing = tmp_path / "existing"
    shutil.copytree(ner_model, existing)
    before = {p.name: p.read_bytes() for p in existing.iterdir()}
    cases = {
        "Invalid value for '--rnn'": ("train", NER_TRAIN, "-o", tmp_path / "new", "--rnn", "foo"),
        "Invalid value for '--output'": ("tag", "-m", ner_model, "--output", "xml"),
        "already holds a model; choose another directory, or overwrite it with --force": (
            "train", NER_TRAIN, "-o", existing, "--epochs", "1",
        ),
    }  # fmt: skip

    results = [run_captured(*args) for args in cases.values()]

    for message, result in zip(cases, results, strict=True):
        assert result.returncode == 2, (message, result.stderr)
        assert message in result.stderr, message
        assert "Traceback" not in result.stderr, message
    assert not (tmp_path / "new").exists()
    # Without --force the existing model is left exactly as it was.
    assert {p.name: p.read_bytes() for p in existing.iterdir()} == before


@pytest.mark.parametrize(
    "args",
    [
        ["tag", "-m", "no-model", "--tag-field", "lemma"],
        ["tag", "-m", "no-model", "--device", "tpu"],
        ["eval", "--gold", str(NER_DEV), "--pred", str(NER_DEV), "--tag-field", "misc:"],
        ["eval", "--gold", str(NER_DEV), "--pred", str(NER_DEV), "--mode", "lenient"],
    ],
    ids=["tag-field", "device", "eval-tag-field", "mode"],
)
def test_more_bad_option_values_in_process(args, capsys):
    # `main` is the console script's entry point; run in this process it costs milliseconds.
    code = run(*args)

    assert code == 2
    assert f"Invalid value for '{args[-2]}'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def shipped_ner_on_ner_dev() -> dict:
    """`rnntag eval -m ner data/ner-dev.conll --json` (an IOB2 file) as parsed JSON."""
    return json.loads(succeeded(run_captured("eval", "-m", "ner", NER_DEV, "--json")))


def json_of(capsys, *args: object) -> dict:
    """The JSON that the CLI, run in this process, prints for `args`."""
    capsys.readouterr()
    assert run(*args) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def ner_writing(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The shipped NER model (trained on IOB1) as if trained on data in each scheme: the
    scheme its output is written in by default."""
    models = {}
    for scheme in ("IOB1", "IOB2", "IOBES"):
        model = tmp_path_factory.mktemp("ner") / f"ner-{scheme}"
        shutil.copytree(DATA.parent / "models" / "en-ner-conll03", model)
        config = model_config(model) | {"data_scheme": scheme}
        (model / "config.json").write_text(json.dumps(config), encoding="utf-8")
        models[scheme] = model
    return models


@pytest.mark.parametrize("mode", ["conlleval", "strict"])
@pytest.mark.parametrize("scheme", ["IOB1", "IOB2", "IOBES"])
@pytest.mark.parametrize("model_scheme", ["IOB1", "IOB2", "IOBES"])
def test_eval_scores_a_model_in_the_gold_files_scheme(
    tmp_path, capsys, model_scheme, scheme, mode, ner_writing, shipped_ner_on_ner_dev
):
    # The same gold spans written in each scheme: the model's predictions, converted to the
    # gold file's scheme, score the same whatever the scheme of the gold file or of the
    # model's own output (its CRF's labels are IOBES).
    sentences = [
        [row.split("\t") for row in block.splitlines()]
        for block in NER_DEV.read_text(encoding="utf-8").split("\n\n")
        if block.strip() and not block.startswith("-DOCSTART-")
    ]
    gold = tmp_path / f"gold-{scheme}.conll"
    with gold.open("w", encoding="utf-8") as out:
        # The sample's one document, as the shipped model's memory sees it in NER_DEV.
        out.write("-DOCSTART-\tO\n\n")
        for rows in sentences:
            tags = convert([tag for _, tag in rows], scheme)
            lines = (f"{word}\t{tag}\n" for (word, _), tag in zip(rows, tags, strict=True))
            out.write("".join(lines) + "\n")
    model = ner_writing[model_scheme]
    result = json_of(capsys, "eval", "-m", model, gold, "--json", "--mode", mode)
    assert result["scheme"] == scheme
    assert result["spans"]["micro avg"] == shipped_ner_on_ner_dev["spans"]["micro avg"]
    assert result["spans"]["micro avg"]["support"] == sum(
        len(to_spans([t for _, t in rows])) for rows in sentences
    )


def test_version_and_short_help(capsys):
    from rnntag import __version__

    assert run("--version") == 0
    assert capsys.readouterr().out == f"rnntag {__version__}\n"
    assert run("train", "-h") == 0
    # Rich markup must not eat the TOML table names (the help may wrap between them).
    words = capsys.readouterr().out.replace("│", " ").split()
    assert "[model] and [train]" in " ".join(words)


@pytest.mark.parametrize(
    "command", ["train", "tag", "eval", "bench", "info", "plot", "serve", "export"]
)
def test_every_option_explains_itself(command):
    import typer.main

    from rnntag.cli import app

    group = typer.main.get_command(app)
    params = group.commands[command].params  # type: ignore[attr-defined]
    undocumented = [p.name for p in params if not getattr(p, "help", None)]
    assert undocumented == []


@pytest.mark.parametrize("command", ["train", "tag", "eval", "bench", "info", "plot", "export"])
def test_usage_lines_name_arguments_without_braces(command, capsys):
    assert run(command, "--help") == 0
    usage = next(line for line in capsys.readouterr().out.splitlines() if "Usage:" in line)
    assert f"rnntag {command} [OPTIONS] " in usage
    assert "{" not in usage and "}" not in usage


@pytest.mark.parametrize(
    ("args", "missing", "extra"),
    [
        (["export", "ner", "--onnx", "ner.onnx"], "onnx", "onnx"),
        (["serve", "--port", "0"], "uvicorn", "serve"),
    ],
)
def test_a_command_without_its_extra_says_how_to_install_it(
    monkeypatch, tmp_path, args, missing, extra
):
    monkeypatch.chdir(tmp_path)
    for name in [m for m in sys.modules if m.startswith(("rnntag.exporting", "rnntag.serving"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, missing, None)  # import fails as if not installed
    result = run_captured(*args)
    assert result.returncode == 2
    assert f"pip install 'rnntag[{extra}]'" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_train_help_groups_its_options_and_shows_the_defaults_that_apply(tmp_path, monkeypatch):
    import dataclasses
    import os
    import re
    import subprocess

    from rnntag.model.config import PLAIN_TAG_NETWORK, ModelConfig, TrainConfig

    wide = {"COLUMNS": "400", "TERMINAL_WIDTH": "400"}
    shown = subprocess.run(
        [sys.executable, "-m", "rnntag", "train", "--help"],
        capture_output=True, text=True, env={**os.environ, **wide}, check=True,
    ).stdout  # fmt: skip
    for panel in ("Data and output", "Network", "Training", "Pretrained vectors", "Run"):
        assert f"─ {panel} ─" in shown
    rows = {
        match.group(1): match.group(2)
        for match in re.finditer(r"--([a-z-]+)\b[^\n]*?\[default: ([^\]]+)\]", shown)
    }
    for config in (ModelConfig(), TrainConfig()):
        for item in dataclasses.fields(config):
            option = item.name.replace("_", "-")
            if option not in rows:
                continue  # flags with no value to show, and None
            default = getattr(config, item.name)
            expected = str(default)
            if isinstance(default, bool):  # a flag shows the one that applies
                expected = option if default else f"no-{option}"
            if item.name in PLAIN_TAG_NETWORK:
                expected = f"({default}; {PLAIN_TAG_NETWORK[item.name]} for plain tags)"
            if item.name == "doc_memory":
                expected = "(on for span tags in data with documents)"
            assert rows[option] == expected, option
    # And they apply: a span model gets the first, a plain-tag model the second.
    for name, data, kind in (
        ("ner", "ner-train.conll", "span"),
        ("pos", "pos-train.conllu", "plain"),
    ):
        out = tmp_path / name
        assert run("train", DATA / data, "-o", out, "--epochs", "1", "--threads", "1") == 0
        model = json.loads((out / "config.json").read_text(encoding="utf-8"))["model"]
        for field, plain in PLAIN_TAG_NETWORK.items():
            assert model[field] == (plain if kind == "plain" else getattr(ModelConfig(), field))
        # The NER sample marks documents; the POS sample's tags are plain.
        assert model["doc_memory"] == ("on" if kind == "span" else "off")


def test_train_says_what_it_chose_from_the_data(tmp_path, capsys):
    assert run("train", DATA / "ner-train.conll", "-o", tmp_path / "n", "--epochs", "1") == 0
    assert "document memory on" in " ".join(capsys.readouterr().err.split())
    args = ["--epochs", "1", "--hidden-size", "16"]
    assert run("train", DATA / "pos-train.conllu", "-o", tmp_path / "p", *args) == 0
    said = " ".join(capsys.readouterr().err.split())
    # hidden_size was given: only the rest was chosen.
    assert (
        "plain tags: the bigger network (char_encoder lstm, char_hidden 100, num_layers 2)" in said
    )


def test_info_names_the_model_card_and_only_the_front_ends_the_model_has(capsys):
    assert run("info", "ner") == 0
    # Without whitespace: rich folds a long path (a deep checkout) wherever the width ends.
    out = "".join(capsys.readouterr().out.split())
    assert "MODEL_CARD.md(trainingdata,scores,licence)" in out
    assert "model.bpe_" not in out


@pytest.mark.parametrize("command", ["info", "export", "plot"])
def test_commands_on_one_model_take_it_as_an_argument_or_with_m(command, capsys):
    assert run("info", "-m", "ner", "--json") == 0
    assert run("info", "ner", "--json") == 0
    capsys.readouterr()
    extra = {"info": [], "export": ["--onnx", "x.onnx"], "plot": ["-o", "x.png"]}[command]
    assert run(command, *extra) == 2
    assert run(command, "ner", "-m", "pos", *extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "rnntag: error: name one model, as an argument or with -m"
