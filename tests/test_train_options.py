"""Training options that shape the model: TOML configs, pretrained vectors, byte pairs,
tag schemes. Runs `rnntag` in-process on the samples, a few seconds per training."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import DATA, run, run_captured
from hypothesis import given, settings
from hypothesis import strategies as st

import rnntag
from rnntag.api import _documents_after
from rnntag.errors import UsageError
from rnntag.io.formats import ReadOptions, load_corpus
from rnntag.io.schemes import is_well_formed
from rnntag.io.sentence import InputSentence
from rnntag.model.config import PLAIN_TAG_NETWORK, ModelConfig
from rnntag.model.modelfile import WORD_TABLE, load_model, restored, stored
from rnntag.training.checkpoint import fingerprint
from rnntag.training.embeddings import load_vectors
from rnntag.training.signals import TrainingInterrupted

pytestmark = pytest.mark.slow

SMALL = ["--epochs", "2", "--hidden-size", "8", "--char-hidden", "8", "--batch-size", "16"]
# Epochs of a training that a test interrupts after its first: long enough to be cut.
LONG_RUN = 10
# What a training prints when its data is read, just before the first batch.
STARTED = "training on "


def conll_tags(text: str) -> list[list[str]]:
    return [
        [line.split("\t")[1] for line in block.splitlines()] for block in text.strip().split("\n\n")
    ]


@pytest.fixture(scope="module")
def configured(tmp_path_factory) -> Path:
    """A model trained from a TOML file with vectors and byte pairs, one option overridden."""
    data_dir = DATA
    root = tmp_path_factory.mktemp("configured")
    toml = root / "recipe.toml"
    toml.write_text(
        '[model]\nhidden_size = 12\nsubword = "bpe"\nbpe_pool = "mean"\nbpe_vocab_size = 60\n'
        f'[train]\nepochs = 5\nembeddings = "{data_dir / "vectors.txt"}"\n'
        "freeze_embeddings = true\n",
        encoding="utf-8",
    )
    out = root / "model"
    code = run(
        "train", data_dir / "ner-train.conll", "--dev", data_dir / "ner-dev.conll", "-o", out,
        "--config", toml, "--epochs", "2",
    )  # fmt: skip
    assert code == 0
    return out


def test_toml_settings_apply_and_command_line_overrides_them(configured):
    config = json.loads((configured / "config.json").read_text(encoding="utf-8"))
    assert config["model"]["hidden_size"] == 12
    assert config["model"]["subword"] == "bpe"
    assert config["train"]["epochs"] == 2
    assert config["results"]["epochs_run"] == 2
    # The word size is that of the vectors, whatever the default.
    assert config["model"]["word_dim"] == 16
    bpe = json.loads((configured / "bpe.json").read_text(encoding="utf-8"))
    assert bpe["model"]["type"] == "BPE"


def test_span_data_is_trained_in_iobes_and_remembers_its_own_scheme(configured):
    config = json.loads((configured / "config.json").read_text(encoding="utf-8"))
    assert config["scheme"] == "IOBES"
    assert config["data_scheme"] == "IOB2"
    assert {label[0] for label in config["labels"]} == set("OBIES")


def test_frozen_pretrained_vectors_are_kept_exactly(configured, data_dir):
    info, model = load_model(configured)
    vectors, _ = load_vectors(data_dir / "vectors.txt", lambda word, rank: True)
    words = info.vocab.words
    # "London" is a training word; GloVe-style files are lowercased, so it takes "london".
    # The file stores the word table in 8 bits, one scale per row.
    for word, source in (("London", "london"), ("monday", "monday")):
        row = model.word_embed.weight[words.index(word)]
        vector = {WORD_TABLE: torch.from_numpy(vectors[source])[None]}
        assert torch.equal(row, restored(stored(vector), torch.float32)[WORD_TABLE][0]), word
    assert info.results["pretrained_vectors_found"] > 50


@pytest.mark.parametrize(
    ("scheme", "prefixes"), [(None, set("OBI")), ("IOBES", set("OBIES")), ("IOB1", set("OBI"))]
)
def test_output_scheme(configured, data_dir, capsys, scheme, prefixes):
    option = [] if scheme is None else ["--output-scheme", scheme]
    assert run("tag", "-m", configured, data_dir / "sentences.txt", *option) == 0
    tags = conll_tags(capsys.readouterr().out)
    assert {t[0] for s in tags for t in s} <= prefixes
    assert all(is_well_formed(s, scheme or "IOB2") for s in tags)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--train-scheme", "BIO"], "--train-scheme"),
        (["--scheme", "XYZ"], "--scheme"),
        (["--subword", "wordpiece"], "--subword"),
        (["--bpe-pool", "max"], "--bpe-pool"),
    ],
)
def test_bad_scheme_and_subword_options_are_usage_errors(
    tmp_path, data_dir, capsys, options, message
):
    code = run("train", data_dir / "ner-train.conll", "-o", tmp_path / "m", *SMALL, *options)
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_bad_toml_names_the_file(tmp_path, data_dir, capsys):
    toml = tmp_path / "bad.toml"
    toml.write_text("[model]\nhiden_size = 3\n", encoding="utf-8")
    code = run("train", data_dir / "ner-train.conll", "-o", tmp_path / "m", "--config", toml)
    assert code == 1
    err = capsys.readouterr().err
    assert str(toml) in err and "hiden_size" in err


def test_same_seed_gives_the_same_model_bit_for_bit(tmp_path):
    def train_once(out: Path) -> bytes:
        args = ["train", DATA / "ner-train.conll", "--dev", DATA / "ner-dev.conll", "-o", out]
        assert run(*args, *SMALL, "--seed", "7", "--subword", "bpe", "--bpe-vocab-size", "60") == 0
        return (out / "model.safetensors").read_bytes()

    assert train_once(tmp_path / "a") == train_once(tmp_path / "b")


EMA_SETTINGS = {"epochs": 2, "hidden_size": 8, "char_hidden": 8, "batch_size": 16, "seed": 5}


def train_ema(out: Path, **settings: object) -> bytes:
    """Train on the NER samples with `EMA_SETTINGS` and `settings`; the saved weights."""
    rnntag.train(DATA / "ner-train.conll", out, DATA / "ner-dev.conll", **EMA_SETTINGS | settings)
    return (out / "model.safetensors").read_bytes()


def test_a_moving_average_is_saved_and_resumed_and_without_memory_is_the_weights(tmp_path):
    plain = train_ema(tmp_path / "plain")
    # Each step's average is then 1e-9 of the last one and the rest the new weights, which
    # rounds to the new weights exactly in float32.
    assert train_ema(tmp_path / "forgetful", ema=1e-9) == plain
    averaged = train_ema(tmp_path / "averaged", ema=0.9)
    assert averaged != plain

    steps = iter(range(12))  # the samples make 8 batches an epoch: cut in the second epoch
    with pytest.raises(TrainingInterrupted):
        train_ema(tmp_path / "cut", ema=0.9, should_stop=lambda: next(steps, 0) == 11)
    assert train_ema(tmp_path / "cut", ema=0.9, resume=True) == averaged


def epochs(model: Path) -> list[dict]:
    """The records of a model's metrics.jsonl."""
    return [json.loads(line) for line in (model / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_interrupted_and_resumed_training_ends_as_an_uninterrupted_one(tmp_path):
    arguments = [
        "train", str(DATA / "ner-train.conll"), "--dev", str(DATA / "ner-dev.conll"), *SMALL,
        "--epochs", "3", "--patience", "3", "--threads", "1", "--seed", "3",
    ]  # fmt: skip
    command = [sys.executable, "-m", "rnntag", *arguments]
    out = str(tmp_path / "cut")
    # Ctrl-C needs a process of its own; the other two trainings run in this one.
    with subprocess.Popen([*command, "-o", out], stderr=subprocess.PIPE, text=True) as process:
        assert process.stderr is not None
        for line in process.stderr:
            if line.startswith(STARTED):
                process.send_signal(signal.SIGINT)
                break
        message = process.stderr.read()
    assert process.returncode == 130, message
    # Within the first epoch, so the resumed run starts in the middle of one.
    assert "training interrupted in epoch 1 after batch" in message
    assert "--resume" in message
    assert (tmp_path / "cut" / "checkpoint" / "state.json").is_file()

    assert run(*arguments, "-o", out, "--resume") == 0
    assert run(*arguments, "-o", tmp_path / "whole") == 0
    assert not (tmp_path / "cut" / "checkpoint").exists()
    cut = json.loads((tmp_path / "cut" / "config.json").read_text(encoding="utf-8"))
    full = json.loads((tmp_path / "whole" / "config.json").read_text(encoding="utf-8"))
    assert cut["results"]["dev_score"] == full["results"]["dev_score"]
    assert [e["loss"] for e in epochs(tmp_path / "cut")] == [
        e["loss"] for e in epochs(tmp_path / "whole")
    ]
    cut_weights = (tmp_path / "cut" / "model.safetensors").read_bytes()
    assert cut_weights == (tmp_path / "whole" / "model.safetensors").read_bytes()


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        ({"hidden_size": 16}, "--hidden-size 16: the checkpoint was made with 8"),
        ({"lr": 0.01}, "--lr 0.01: the checkpoint was made with 0.002"),
        ({"rnn": "gru"}, "--rnn gru: the checkpoint was made with lstm"),
    ],
)
def test_resume_with_changed_settings_is_refused_naming_the_setting(tmp_path, changed, message):
    settings = {"epochs": 3, "hidden_size": 8, "char_hidden": 8, "batch_size": 16}
    train, out = DATA / "ner-train.conll", tmp_path / "m"
    with pytest.raises(TrainingInterrupted):
        rnntag.train(train, out, should_stop=lambda: True, **settings)
    state = (out / "checkpoint" / "state.json").read_bytes()

    with pytest.raises(UsageError, match=f"cannot resume with {message}"):
        rnntag.train(train, out, resume=True, **settings | changed)

    assert (out / "checkpoint" / "state.json").read_bytes() == state
    # The same settings (another thread count aside) resume it.
    rnntag.train(train, out, resume=True, threads=1, **settings)
    assert not (out / "checkpoint").exists()


def test_resume_without_a_checkpoint_is_an_error(tmp_path, capsys):
    code = run("train", DATA / "ner-train.conll", "-o", tmp_path / "m", *SMALL, "--resume")
    assert code == 1
    assert "no checkpoint to resume from" in capsys.readouterr().err


def ddp_training(out: Path, *options: object) -> list[str]:
    """`rnntag train` arguments for the NER samples in two CPU processes of one thread."""
    return [
        "train", str(DATA / "ner-train.conll"), "--dev", str(DATA / "ner-dev.conll"),
        "-o", str(out), *SMALL, "--threads", "1", *map(str, options),
    ]  # fmt: skip


def as_ranks(arguments: list[str]) -> tuple[subprocess.Popen[str], subprocess.Popen[str]]:
    """`rnntag ARGUMENTS` as two ranks, started with the environment that torchrun gives its
    workers (without the launcher's seconds of start-up), in one process group as a shell
    runs a pipeline."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ranks: list[subprocess.Popen[str]] = []
    for rank in range(2):
        environment = {
            **os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2",
            "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
            "OMP_NUM_THREADS": "1",
        }  # fmt: skip
        command = [sys.executable, "-m", "rnntag", *arguments]
        # The first rank leads a new group, and the second joins it.
        group = ranks[0].pid if ranks else 0
        process = subprocess.Popen(
            command, env=environment, stderr=subprocess.PIPE, text=True, process_group=group
        )
        ranks.append(process)
    return ranks[0], ranks[1]


@pytest.mark.slow
def test_torchrun_training_on_two_cpu_processes_resumes_and_gives_a_model_that_tags(tmp_path):
    out = tmp_path / "ddp"
    arguments = ddp_training(out, "--epochs", LONG_RUN, "--patience", LONG_RUN)
    first, second = as_ranks(arguments)
    with first, second:
        assert first.stderr is not None and second.stderr is not None
        # After an epoch, when every rank is surely training (the first rank's report can
        # come before the second has begun to handle Ctrl-C), Ctrl-C as a terminal sends it:
        # to every process of the group.
        for line in first.stderr:
            if line.startswith("epoch 1/"):
                os.killpg(first.pid, signal.SIGINT)
                break
        messages = first.stderr.read(), second.stderr.read()
    assert first.returncode == second.returncode == 130, messages
    assert (out / "checkpoint" / "state.json").is_file(), messages
    assert 1 <= len(epochs(out)) < LONG_RUN

    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "rnntag", *arguments,
    ]  # fmt: skip
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert not (out / "checkpoint").exists()
    assert [e["epoch"] for e in epochs(out)] == list(range(1, LONG_RUN + 1))
    # Rank 0 alone reports and saves.
    assert resumed.stderr.count("training on 120 sentences") == 1
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["results"]["epochs_run"] == LONG_RUN
    text = tmp_path / "sentence.txt"
    text.write_text("Ada Lovelace was born in London .\n", encoding="utf-8")
    tagged = run_captured("tag", "-m", out, "--input", "tokens", text)
    assert tagged.returncode == 0, tagged.stderr
    rows = [line.split("\t") for line in tagged.stdout.splitlines() if line]
    assert [row[0] for row in rows] == "Ada Lovelace was born in London .".split()
    assert is_well_formed([row[1] for row in rows], "IOB2")


@pytest.mark.parametrize(
    ("data", "options", "memory"),
    [
        ("ner-train.conll", [], "on"),  # span tags in -DOCSTART- documents
        ("ner-train.conll", ["--no-doc-memory"], "off"),
        ("tricky.conllu", ["--doc-memory"], "on"),
        ("tricky.conllu", [], "off"),  # a # newdoc document, but plain tags
        ("ner-train.conll without -DOCSTART-", [], "off"),
    ],
)
def test_document_memory_is_on_by_default_for_span_tags_in_documents(
    tmp_path, data, options, memory
):
    name, _, without = data.partition(" without ")
    path = DATA / name
    if without:
        path = tmp_path / name
        lines = (DATA / name).read_text(encoding="utf-8").splitlines(keepends=True)
        path.write_text("".join(x for x in lines if not x.startswith(without)), encoding="utf-8")
    out = tmp_path / "model"
    assert run("train", path, "-o", out, *SMALL, "--epochs", "1", *options) == 0
    info, _ = load_model(out, torch.device("cpu"))
    assert info.model.doc_memory == memory


DEFAULT_NETWORK = {name: getattr(ModelConfig(), name) for name in PLAIN_TAG_NETWORK}
ONE_EPOCH = ["--epochs", "1", "--batch-size", "16"]


@pytest.mark.parametrize(
    ("data", "options", "toml", "network"),
    [
        ("pos-train.conllu", [], "", PLAIN_TAG_NETWORK),
        ("ner-train.conll", [], "", DEFAULT_NETWORK),
        ("pos-train.conllu", SMALL, "", PLAIN_TAG_NETWORK | {"hidden_size": 8, "char_hidden": 8}),
        ("pos-train.conllu", ["--num-layers", "1"], "", PLAIN_TAG_NETWORK | {"num_layers": 1}),
        # What a config file sets counts as given, though it equals the default.
        (
            "pos-train.conllu",
            [],
            'char_encoder = "cnn"',
            PLAIN_TAG_NETWORK | {"char_encoder": "cnn"},
        ),
    ],
)
def test_plain_tags_get_the_bigger_network_in_place_of_each_default_not_given(
    tmp_path, data, options, toml, network
):
    out, recipe = tmp_path / "model", tmp_path / "recipe.toml"
    recipe.write_text(f"[model]\n{toml}\n", encoding="utf-8")
    assert run("train", DATA / data, "-o", out, *ONE_EPOCH, "--config", recipe, *options) == 0
    info, _ = load_model(out, torch.device("cpu"))
    assert {name: getattr(info.model, name) for name in network} == network


def test_a_resumed_training_keeps_the_network_it_began_with(tmp_path):
    # As a checkpoint of an earlier release, whose defaults for plain tags were the small ones.
    train, small = DATA / "pos-train.conllu", {**DEFAULT_NETWORK, "hidden_size": 8}
    steps = iter(range(100))
    with pytest.raises(TrainingInterrupted):
        rnntag.train(train, tmp_path, epochs=2, should_stop=lambda: next(steps) == 3, **small)

    tagger = rnntag.train(train, tmp_path, resume=True, epochs=2, hidden_size=8)

    assert tagger.info.results["epochs_run"] == 2
    assert {name: getattr(tagger.info.model, name) for name in small} == small


def test_final_fit_trains_on_train_and_dev_together_for_every_epoch(tmp_path):
    out, train, dev = tmp_path / "model", DATA / "ner-train.conll", tmp_path / "dev.conll"
    dev.write_text(
        (DATA / "ner-dev.conll").read_text(encoding="utf-8") + "\nZanzibar\tB-LOC\nwaits\tO\n",
        encoding="utf-8",
    )
    arguments = ["train", train, "--dev", dev, "-o", out, *SMALL, "--epochs", "3"]
    assert run(*arguments, "--patience", "1", "--final-fit") == 0

    info, _ = load_model(out, torch.device("cpu"))
    conll = ReadOptions("conll")
    train_data, dev_data = load_corpus(str(train), conll), load_corpus(str(dev), conll)
    only_dev = {t for s in dev_data for t in s.tokens} - {t for s in train_data for t in s.tokens}
    assert "Zanzibar" in only_dev and only_dev <= set(info.vocab.words)
    assert info.train.final_fit
    assert info.results["train_sentences"] == len(train_data) + len(dev_data)
    assert info.results["epochs_run"] == 3
    assert [e["dev_score"] for e in epochs(out)] == [None, None, None]


def test_final_fit_without_dev_is_a_usage_error(tmp_path, capsys):
    code = run("train", DATA / "ner-train.conll", "-o", tmp_path / "m", *SMALL, "--final-fit")
    assert code == 2
    assert "dev" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 50), st.none() | st.integers(1, 50)), min_size=1),
    st.lists(st.tuples(st.integers(1, 50), st.none() | st.integers(1, 50))),
)
def test_dev_documents_never_join_a_training_document(first, second):
    def sentences(rows):
        # A sentence's document starts at or before its own line.
        return [InputSentence(["w"], line=line, document=d and min(d, line)) for line, d in rows]

    train, dev = sentences(first), sentences(second)
    joined = _documents_after(train, dev)

    assert [s.tokens for s in joined] == [s.tokens for s in dev]
    assert {s.document for s in joined} & {s.document for s in train} <= {None}
    before = [s.document for s in dev]
    after = [s.document for s in joined]
    # The same partition into documents, and a sentence without one keeps none.
    assert len(set(zip(before, after, strict=True))) == len(set(before)) == len(set(after))
    assert [d is None for d in after] == [d is None for d in before]


@pytest.mark.parametrize("memory", ["absent", False])
def test_a_checkpoint_from_before_later_settings_resumes(tmp_path, memory):
    # An earlier release stored no merge, final_fit or doc_memory setting, and hashed the
    # settings it had; the settings added since take their defaults on resume. The next
    # stored doc_memory as true, false or null.
    train = DATA / "pos-train.conllu"
    settings = EMA_SETTINGS | {"epochs": 3}
    steps = iter(range(100))
    with pytest.raises(TrainingInterrupted):
        rnntag.train(train, tmp_path, should_stop=lambda: next(steps) == 5, **settings)
    path = tmp_path / "checkpoint" / "state.json"
    state = json.loads(path.read_text(encoding="utf-8"))
    for section, name in [("model", "merge"), ("model", "doc_memory"), ("train", "final_fit")]:
        del state["info"][section][name]
    if memory != "absent":
        state["info"]["model"]["doc_memory"] = memory
    sentences = load_corpus(str(train), ReadOptions("conllu"))
    state["data"] = fingerprint(
        [state["info"]["model"], state["info"]["train"]],
        [s.tokens for s in sentences],
        [s.tags or [] for s in sentences],
    )
    path.write_text(json.dumps(state), encoding="utf-8")

    tagger = rnntag.train(train, tmp_path, resume=True, **settings)

    assert tagger.info.results["epochs_run"] == 3
    assert not (tmp_path / "checkpoint").exists()
