"""Model directories: saving, loading, and refusing tampered or foreign files."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import pathlib
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

from rnntag.errors import RnntagError
from rnntag.model import modelfile
from rnntag.model.config import ModelConfig, ModelInfo, Vocabularies
from rnntag.model.directory import (
    BPE_FILE,
    CONFIG_FILE,
    VOCABULARY_FILES,
    WEIGHTS_FILE,
    read_info,
    resolve_model,
    save_config,
)
from rnntag.model.encode import Encoder
from rnntag.model.modelfile import (
    HALF_MAX,
    WORD_SCALE,
    WORD_TABLE,
    build_model,
    load_model,
    restored,
    save_model,
    stored,
)
from rnntag.model.subword import learn_bpe


def tiny_info() -> ModelInfo:
    """A model small enough to build in milliseconds, with every part present."""
    return ModelInfo(
        model=ModelConfig(word_dim=8, char_dim=4, char_hidden=6, hidden_size=5, dropout=0.1),
        vocab=Vocabularies(
            words=["<pad>", "<unk>", "Ada", "went", "home"],
            chars=["<pad>", "<unk>", "A", "d", "a", "w", "e", "n", "t", "h", "o", "m"],
            labels=["O", "B-PER", "I-PER"],
        ),
        scheme="IOB2",
        results={"best_epoch": 3, "dev_metric": "span F1", "dev_score": 0.75},
    )


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "model"
    save_model(directory, tiny_info(), build_model(tiny_info()))
    return directory


def edit_config(directory: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Rewrite `config.json` after `edit` has changed its parsed content in place."""
    path = directory / CONFIG_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def test_save_then_load_gives_same_weights_and_info(tmp_path):
    info = tiny_info()
    model = build_model(info)
    directory = tmp_path / "nested" / "model"

    save_model(directory, info, model)
    loaded_info, loaded = load_model(directory)

    assert loaded_info == info
    assert loaded_info.rnntag_version != ""
    saved = model.state_dict()
    restored = loaded.state_dict()
    assert list(restored) == list(saved)
    for name, tensor in saved.items():
        assert torch.allclose(restored[name], tensor, rtol=1e-3, atol=0.01), name
        assert restored[name].dtype == torch.float32, name
    assert not loaded.training
    # Only these files: the temporary files of the atomic writes are gone.
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [CONFIG_FILE, WEIGHTS_FILE, *VOCABULARY_FILES.values()]
    )


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.lists(st.floats(-1e4, 1e4, width=32), min_size=3, max_size=3), min_size=1, max_size=6
    ),
    zero_row=st.booleans(),
)
def test_word_table_is_stored_in_8_bits_within_half_a_step(rows, zero_row):
    table = torch.tensor(rows + [[0.0, 0.0, 0.0]] * zero_row)  # (words, 3)

    saved = stored({WORD_TABLE: table})
    back = restored(saved, torch.float32)[WORD_TABLE]

    assert saved[WORD_TABLE].dtype == torch.int8
    assert saved[WORD_SCALE].dtype == torch.float32
    step = table.abs().amax(dim=1, keepdim=True) / 127  # (words, 1)
    assert bool(((back - table).abs() <= step / 2 * (1 + 1e-5) + 1e-30).all())
    if zero_row:
        assert torch.equal(back[-1], torch.zeros(3))


@pytest.mark.parametrize(
    ("value", "dtype"),
    [(0.1, torch.float16), (-HALF_MAX, torch.float16), (1e5, torch.float32), (-1e9, torch.float32)],
)
def test_other_weights_are_stored_in_half_precision_where_they_fit_it(value, dtype):
    weight = torch.tensor([[value, 0.5]])

    saved = stored({"emissions.weight": weight})

    assert saved["emissions.weight"].dtype == dtype
    back = restored(saved, torch.float32)["emissions.weight"]
    assert torch.equal(back, weight.to(dtype).float())


def test_file_of_an_earlier_release_still_loads(model_dir):
    # Releases before the 8-bit word table saved it in float16 and every other tensor in float32.
    _, model = load_model(model_dir)
    earlier = {k: v.contiguous() for k, v in model.state_dict().items()}
    earlier[WORD_TABLE] = earlier[WORD_TABLE].half()
    save_file(earlier, str(model_dir / WEIGHTS_FILE))

    _, loaded = load_model(model_dir)

    for name, tensor in loaded.state_dict().items():
        assert torch.equal(tensor, earlier[name].float()), name


@pytest.mark.parametrize(
    ("settings", "scheme"),
    [
        pytest.param({}, "IOB2", id="cnn-lstm-crf"),
        pytest.param(
            {"char_encoder": "lstm", "rnn": "gru", "num_layers": 2, "merge": "product"},
            "IOB2",
            id="gru",
        ),
        pytest.param({"decoder": "softmax", "case_dim": 3, "rnn": "rnn"}, None, id="softmax"),
        pytest.param({"constrain": False, "subword": "bpe", "bpe_vocab_size": 20}, None, id="bpe"),
        pytest.param(
            {"char_encoder": "none", "subword": "bpe", "bpe_pool": "mean"}, "IOB2", id="mean"
        ),
    ],
)
def test_loaded_network_is_the_saved_one(tmp_path, settings, scheme):
    info = tiny_info()
    info.model = ModelConfig(**{**dataclasses.asdict(info.model), **settings})
    info.scheme = scheme
    if info.model.subword == "bpe":
        info.vocab.bpe = learn_bpe(["Ada", "went", "home", "Ada"], info.model.bpe_vocab_size)
    model = build_model(info).eval()
    save_model(tmp_path, info, model)
    model.load_state_dict(restored(stored(model.state_dict()), torch.float32))

    loaded_info, loaded = load_model(tmp_path)

    # Loading builds the network without initialising it; every tensor must come from the
    # file, and the CRF's masks, which are not saved, from the config as in training.
    tensors = dict(loaded.named_parameters()) | dict(loaded.named_buffers())
    originals = dict(model.named_parameters()) | dict(model.named_buffers())
    assert list(tensors) == list(originals)
    for name, tensor in tensors.items():
        assert tensor.device.type == "cpu", name
        assert tensor.dtype == originals[name].dtype, name
        assert torch.equal(tensor, originals[name]), name
    assert all(p.requires_grad for p in loaded.parameters())
    batch = Encoder(loaded_info.vocab, loaded_info.model).batch([["Ada", "went", "home"], ["Ada"]])
    with torch.inference_mode():
        assert torch.equal(loaded(batch), model(batch))
        assert torch.equal(
            loaded.decode(loaded(batch), batch.mask), model.decode(model(batch), batch.mask)
        )


def _remove_directory(directory: Path) -> Path:
    return directory.parent / "no-such-model"


def _remove_config(directory: Path) -> Path:
    (directory / CONFIG_FILE).unlink()
    return directory


def _break_json(directory: Path) -> Path:
    (directory / CONFIG_FILE).write_text('{"format_version": 1,', encoding="utf-8")
    return directory


def _future_version(directory: Path) -> Path:
    edit_config(directory, lambda data: data.update(format_version=999))
    return directory


def _unknown_key(directory: Path) -> Path:
    edit_config(directory, lambda data: data["model"].update(attention_heads=4))
    return directory


def _number_in_labels(directory: Path) -> Path:
    edit_config(directory, lambda data: data["labels"].append(7))
    return directory


def _relabel(label: str) -> Callable[[Path], Path]:
    def tamper(directory: Path) -> Path:
        edit_config(directory, lambda data: data["labels"].__setitem__(0, label))
        return directory

    return tamper


def _edit_config_text(directory: Path, old: str, new: str) -> Path:
    path = directory / CONFIG_FILE
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return directory


def _huge_integer(directory: Path) -> Path:
    return _edit_config_text(directory, '"hidden_size": 5', '"hidden_size": ' + "9" * 5001)


def _deep_nesting(directory: Path) -> Path:
    return _edit_config_text(directory, '"labels": [', '"labels": ' + "[" * 100_000)


def _lone_surrogate(directory: Path) -> Path:
    return _edit_config_text(directory, '"labels": [', '"labels": ["\\ud800", ')


def _many_characters(directory: Path) -> Path:
    path = directory / "chars.txt"
    extra = "".join(chr(0x10000 + i) + "\n" for i in range(200_000))
    path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return directory


def _repeated_word(directory: Path) -> Path:
    with open(directory / "words.txt", "a", encoding="utf-8") as words:
        words.write("Ada\n")
    return directory


def _removed_word(directory: Path) -> Path:
    path = directory / "words.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("went\n", ""), encoding="utf-8")
    return directory


def _remove_vocabulary(directory: Path) -> Path:
    (directory / "chars.txt").unlink()
    return directory


def _changed_size(directory: Path) -> Path:
    edit_config(directory, lambda data: data["model"].update(word_dim=9))
    return directory


def _truncate_weights(directory: Path) -> Path:
    path = directory / WEIGHTS_FILE
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    return directory


def _remove_weights(directory: Path) -> Path:
    (directory / WEIGHTS_FILE).unlink()
    return directory


def _integer_dtype(directory: Path) -> Path:
    # Same element size, so the file stays valid safetensors: only the header lies.
    path = directory / WEIGHTS_FILE
    path.write_bytes(path.read_bytes().replace(b'"dtype":"F16"', b'"dtype":"I16"', 1))
    return directory


def _edit_weights(edit: Callable[[dict[str, torch.Tensor]], None]) -> Callable[[Path], Path]:
    def tamper(directory: Path) -> Path:
        path = directory / WEIGHTS_FILE
        tensors = load_file(str(path))
        edit(tensors)
        save_file(tensors, str(path))
        return directory

    return tamper


def _drop_tensor(tensors: dict[str, torch.Tensor]) -> None:
    del tensors["emissions.bias"]


def _without_scale(tensors: dict[str, torch.Tensor]) -> None:
    del tensors[WORD_SCALE]


def _short_scale(tensors: dict[str, torch.Tensor]) -> None:
    tensors[WORD_SCALE] = tensors[WORD_SCALE][:-1].clone()


def _infinite_scale(tensors: dict[str, torch.Tensor]) -> None:
    tensors[WORD_SCALE][2] = float("inf")


def _float_table_beside_scale(tensors: dict[str, torch.Tensor]) -> None:
    tensors[WORD_TABLE] = tensors[WORD_TABLE].half()


def _not_finite(tensors: dict[str, torch.Tensor]) -> None:
    tensors["emissions.bias"][0] = float("nan")


def _add_tensor(tensors: dict[str, torch.Tensor]) -> None:
    tensors["backdoor.weight"] = torch.zeros(2)


@pytest.mark.parametrize(
    ("tamper", "fragments"),
    [
        pytest.param(_remove_directory, ["model directory not found"], id="no-directory"),
        pytest.param(_remove_config, ["cannot read model config"], id="no-config"),
        pytest.param(_break_json, ["not valid JSON"], id="config-not-json"),
        pytest.param(
            _future_version, ["format version 999 is not supported", "upgrade"], id="newer-format"
        ),
        pytest.param(_unknown_key, ["unknown key 'attention_heads'"], id="unknown-key"),
        pytest.param(
            _number_in_labels,
            ["invalid model config: config.vocab.labels: expected str, found int"],
            id="number-in-labels",
        ),
        pytest.param(_relabel(""), ["a label is the empty string"], id="empty-label"),
        pytest.param(
            _relabel("NOUN"), ["label 'NOUN' is no span tag, but the scheme is"], id="plain-label"
        ),
        pytest.param(
            _huge_integer,
            ["model config cannot be read: Exceeds the limit (4300 digits)"],
            id="5001-digits",
        ),
        pytest.param(_deep_nesting, ["model config cannot be read: nested too deeply"], id="deep"),
        pytest.param(_lone_surrogate, ["model config holds a lone surrogate"], id="surrogate"),
        pytest.param(
            _many_characters,
            ["tensor 'chars.embed.weight'", "config implies [200012, 4]"],
            id="200000-characters",
        ),
        pytest.param(_remove_vocabulary, ["cannot read model file", "chars.txt"], id="no-chars"),
        pytest.param(
            _removed_word,
            ["tensor 'word_embed.weight'", "[5, 8]", "config implies [4, 8]"],
            id="word-removed",
        ),
        pytest.param(
            _repeated_word,
            ["vocab.words: a vocabulary must not repeat entries"],
            id="repeated-word",
        ),
        pytest.param(
            _changed_size,
            ["tensor 'word_embed.weight'", "[5, 8]", "config implies [5, 9]"],
            id="shape-mismatch",
        ),
        pytest.param(_truncate_weights, ["cannot read model weights"], id="truncated-weights"),
        pytest.param(_remove_weights, ["cannot read model weights"], id="no-weights"),
        pytest.param(_integer_dtype, ["holds I16, not floating-point numbers"], id="integer-dtype"),
        pytest.param(
            _edit_weights(_without_scale),
            ["tensor 'word_embed.weight' holds I8, not floating-point numbers"],
            id="8-bit-table-without-scale",
        ),
        pytest.param(
            _edit_weights(_short_scale),
            ["tensor 'word_embed.scale' has shape [4], config implies [5]"],
            id="scale-too-short",
        ),
        pytest.param(
            _edit_weights(_infinite_scale),
            ["tensor 'word_embed.weight' holds numbers that are not finite"],
            id="infinite-scale",
        ),
        pytest.param(
            _edit_weights(_float_table_beside_scale),
            ["tensor 'word_embed.weight' holds F16, not 8-bit integers"],
            id="scale-beside-float-table",
        ),
        pytest.param(
            _edit_weights(_not_finite),
            ["tensor 'emissions.bias' holds numbers that are not finite"],
            id="not-finite",
        ),
        pytest.param(
            _edit_weights(_drop_tensor), ["lack tensor 'emissions.bias'"], id="missing-tensor"
        ),
        pytest.param(
            _edit_weights(_add_tensor), ["unexpected tensor 'backdoor.weight'"], id="extra-tensor"
        ),
    ],
)
def test_tampered_model_directory_is_refused(model_dir, tamper, fragments):
    directory = tamper(model_dir)

    with pytest.raises(RnntagError) as caught:
        load_model(directory)

    for fragment in fragments:
        assert fragment in str(caught.value)


def test_absurd_size_is_refused_before_building_anything(model_dir, monkeypatch):
    edit_config(model_dir, lambda data: data["model"].update(word_dim=10**9))

    def build_nothing(info: ModelInfo) -> None:
        raise AssertionError(f"a network with word_dim {info.model.word_dim} was built")

    # Building even on the meta device means the size check came too late.
    monkeypatch.setattr(modelfile, "build_model", build_nothing)

    with pytest.raises(RnntagError, match=r"model\.word_dim = 1000000000 is outside 1\.\.\d+"):
        load_model(model_dir)


class _TouchOnUnpickle:
    """Unpickles by calling `Path.touch`: stands in for arbitrary code in a pickled model."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


@pytest.mark.parametrize("container", ["pickle", "torch.save"])
def test_pickle_planted_as_weights_is_refused_and_never_run(model_dir, tmp_path, container):
    marker = tmp_path / "pwned"
    weights = model_dir / WEIGHTS_FILE
    if container == "pickle":
        weights.write_bytes(pickle.dumps(_TouchOnUnpickle(marker)))
    else:
        torch.save({"word_embed.weight": _TouchOnUnpickle(marker)}, weights)

    with pytest.raises(RnntagError, match="cannot read model weights"):
        load_model(model_dir)

    assert not marker.exists()
    # The payload is live: a loader that unpickled it would have left the marker.
    if container == "pickle":
        pickle.loads(weights.read_bytes())
    else:
        # From bytes: given a *.safetensors path, torch.load would hand it to safetensors.
        torch.load(io.BytesIO(weights.read_bytes()), weights_only=False)
    assert marker.exists()


def test_saved_files_are_readable_like_any_new_file(tmp_path):
    info = tiny_info()
    save_model(tmp_path / "model", info, build_model(info))
    umask = os.umask(0)
    os.umask(umask)
    for name in ("config.json", "model.safetensors", *VOCABULARY_FILES.values()):
        assert (tmp_path / "model" / name).stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize(("name", "suggested"), [("nre", "ner"), ("NER", "ner"), ("POS", "pos")])
def test_a_misspelt_model_name_suggests_the_closest_shipped_one(name, suggested):
    with pytest.raises(RnntagError, match=f"did you mean '{suggested}'"):
        load_model(resolve_model(name))


FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _tag_jsonl(capsys, model: Path, data_dir: Path) -> str:
    capsys.readouterr()
    code = run(
        "tag",
        "-m",
        model,
        "--input",
        "conll",
        "--output",
        "jsonl",
        "--scores",
        data_dir / "ner-dev.conll",
    )
    assert code == 0
    return capsys.readouterr().out


def test_a_version_1_directory_loads_and_tags_as_when_it_was_written(capsys, data_dir):
    # The fixture and its output were written by rnntag at commit 4b7aea0 (format 1).
    model = FIXTURES / "v1-tiny-ner"
    assert json.loads((model / CONFIG_FILE).read_text(encoding="utf-8"))["format_version"] == 1

    assert _tag_jsonl(capsys, model, data_dir) == (FIXTURES / "v1-tiny-ner.jsonl").read_text(
        encoding="utf-8"
    )


def test_a_version_1_directory_saved_again_is_version_2_and_tags_the_same(
    tmp_path, capsys, data_dir
):
    # The same folder name, which names the model's column in the output.
    model = tmp_path / "v1-tiny-ner"
    shutil.copytree(FIXTURES / "v1-tiny-ner", model)
    info = read_info(model)

    save_config(model, info)

    config = json.loads((model / CONFIG_FILE).read_text(encoding="utf-8"))
    assert config["format_version"] == 2
    assert "vocab" not in config and "history" not in config["results"]
    assert config["labels"] == info.vocab.labels
    assert json.loads((model / BPE_FILE).read_text(encoding="utf-8")) == info.vocab.bpe
    del info.results["history"]
    assert read_info(model) == dataclasses.replace(info, format_version=2)
    assert _tag_jsonl(capsys, model, data_dir) == (FIXTURES / "v1-tiny-ner.jsonl").read_text(
        encoding="utf-8"
    )


# Anything but a line feed may stand in an entry: line separators that str.splitlines would
# cut at, carriage returns, spaces, the empty string.
_ENTRY = st.text(
    st.sampled_from(["a", "é", " ", "\t", "\r", "\x0b", "\x0c", "\x85", "\u2028", "\u2029", "0"]),
    max_size=3,
)


@given(words=st.lists(_ENTRY, unique=True, max_size=8), chars=st.lists(_ENTRY, unique=True))
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_vocabulary_files_give_back_exactly_their_entries(tmp_path_factory, words, chars):
    directory = tmp_path_factory.mktemp("model")
    info = tiny_info()
    vocab = dataclasses.replace(
        info.vocab,
        words=["<pad>", "<unk>", *(w for w in words if w not in ("<pad>", "<unk>"))],
        chars=["<pad>", "<unk>", *(c for c in chars if c not in ("<pad>", "<unk>"))],
    )
    info = dataclasses.replace(info, vocab=vocab)

    save_config(directory, info)

    assert read_info(directory).vocab == vocab


def test_a_vocabulary_entry_with_a_line_break_is_refused(tmp_path):
    info = tiny_info()
    info.vocab.words.append("two\nlines")

    with pytest.raises(RnntagError, match="words vocabulary entry holds a line break"):
        save_config(tmp_path, info)
    assert not (tmp_path / CONFIG_FILE).exists()


def test_the_embeddings_file_is_recorded_by_name_only(tmp_path):
    info = tiny_info()
    info.train.embeddings = "/home/someone/vectors/glove.6B.50d.txt.gz"

    save_config(tmp_path, info)

    config = json.loads((tmp_path / CONFIG_FILE).read_text(encoding="utf-8"))
    assert config["train"]["embeddings"] == "glove.6B.50d.txt.gz"


def test_a_model_without_byte_pairs_leaves_no_byte_pair_file_of_an_earlier_one(tmp_path):
    info = tiny_info()
    with_bpe = dataclasses.replace(
        info, vocab=dataclasses.replace(info.vocab, bpe=learn_bpe(["Ada", "went", "home"], 8))
    )
    save_config(tmp_path, with_bpe)
    assert (tmp_path / BPE_FILE).is_file()

    save_config(tmp_path, info)

    assert not (tmp_path / BPE_FILE).exists()
    assert read_info(tmp_path).vocab.bpe is None


@pytest.mark.parametrize("command", ["tag", "info"])
def test_a_shipped_name_means_the_shipped_model_even_beside_a_folder_of_that_name(
    tmp_path, monkeypatch, capsys, command, data_dir
):
    # As after the README's `rnntag train ... --out ner`: a folder `ner` that is no model.
    (tmp_path / "ner").mkdir()
    (tmp_path / "ner" / "config.json").write_text("{}", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    shipped = resolve_model("ner")

    assert shipped.name == "en-ner-conll03" and shipped.is_absolute()
    assert resolve_model("en-ner-conll03") == shipped
    for folder in ("./ner", Path("ner"), str(tmp_path / "ner")):
        assert resolve_model(folder).resolve() == tmp_path / "ner"
    args = ["-m", "ner", str(data_dir / "sentences.txt")] if command == "tag" else ["ner"]
    assert run(command, *args) == 0
    code = run(
        command,
        *(["-m", "./ner", str(data_dir / "sentences.txt")] if command == "tag" else ["./ner"]),
    )
    assert code == 1
    assert "ner" in capsys.readouterr().err


@pytest.mark.parametrize("file", [CONFIG_FILE, "words.txt", "chars.txt"])
@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_model_file_that_is_no_regular_file_is_refused_without_reading_it(model_dir, file, kind):
    path = model_dir / file
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)  # opening it would wait for a writer forever
    else:
        path.symlink_to("/dev/zero")  # reading it would never end

    with pytest.raises(RnntagError, match="not a regular file"):
        load_model(model_dir)


def test_more_labels_than_a_crf_can_hold_are_refused_before_building(model_dir, monkeypatch):
    edit_config(model_dir, lambda data: data.update(labels=[f"T{i}" for i in range(20_000)]))
    monkeypatch.setattr(modelfile, "build_model", lambda info: pytest.fail("built"))

    with pytest.raises(RnntagError, match="20000 labels is more than 2000"):
        load_model(model_dir)
