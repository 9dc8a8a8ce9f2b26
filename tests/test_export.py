"""`rnntag export --onnx`: the exported network with onnxruntime and the numpy Viterbi gives
exactly the tags torch gives, in a process that never imports torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
import torch
from conftest import DATA, TINY_TRAINING, run, run_captured

import rnntag
from rnntag.errors import RnntagError
from rnntag.exporting.onnx import _FinalStates
from rnntag.exporting.runtime import OnnxTagger, viterbi
from rnntag.io.formats import ReadOptions, load_corpus
from rnntag.model.crf import CRF
from rnntag.model.network import SymbolBiLSTM

# Each architecture's parts that the export maps in its own way.
VARIANTS = {
    "char-BiLSTM, GRU, softmax, casing, 2 layers, lowercase": [
        "--char-encoder", "lstm", "--rnn", "gru", "--decoder", "softmax", "--case-dim", "4",
        "--num-layers", "2", "--lowercase", "--max-word-chars", "6",
    ],
    "char-CNN, CRF, document memory": ["--doc-memory"],
    "char-CNN, CRF, document memory, directions summed": ["--doc-memory", "--merge", "sum"],
}  # fmt: skip
SAMPLES = [DATA / "ner-dev.conll", DATA / "tricky.conll"]


def sentences() -> list[list[str]]:
    return [s.tokens for path in SAMPLES for s in load_corpus(str(path), ReadOptions("conll"))]


def documents() -> list[int | None]:
    """The document of each of `sentences()`: the NER sample is one, whose names recur."""
    return [s.document for path in SAMPLES for s in load_corpus(str(path), ReadOptions("conll"))]


@pytest.fixture(scope="module")
def models(tiny_models, tmp_path_factory) -> dict[str, Path]:
    """The tiny NER and POS models, and variants trained for an epoch."""
    root = tmp_path_factory.mktemp("variants")
    found = {"char-CNN, CRF (NER)": tiny_models["ner"], "char-CNN, CRF (POS)": tiny_models["pos"]}
    for name, options in VARIANTS.items():
        out = root / str(len(found))
        train, dev = DATA / "ner-train.conll", DATA / "ner-dev.conll"
        assert (
            run("train", train, "--dev", dev, "-o", out, *TINY_TRAINING, *options, "--epochs", "1")
            == 0
        )
        found[name] = out
    return found


@pytest.mark.parametrize("lengths", [[3, 1, 5], [1], [4, 4, 0]])
def test_final_states_without_packing_equal_the_packed_original(generator, lengths):
    original = SymbolBiLSTM(num_symbols=9, symbol_dim=5, output_size=8).eval()
    width = max(max(lengths), 1)
    symbols = torch.randint(2, 9, (len(lengths), width), generator=generator)
    symbols[torch.arange(width) >= torch.tensor(lengths).unsqueeze(1)] = 0
    with torch.inference_mode():
        torch.testing.assert_close(_FinalStates(original)(symbols), original(symbols))


@pytest.mark.parametrize("steps", [1, 2, 4])
def test_numpy_viterbi_equals_the_crf_decode(generator, steps):
    crf = CRF(4)
    with torch.no_grad():
        for parameter in crf.parameters():
            parameter.normal_(generator=generator)
    emissions = torch.randn(5, steps, 4, generator=generator)
    lengths = torch.tensor([steps, 1, steps, max(steps - 1, 1), 1])
    mask = torch.arange(steps) < lengths.unsqueeze(1)
    _, expected = crf.decode(emissions, mask)
    start, transitions, end = (s.detach().numpy() for s in crf.constrained_scores())
    got = viterbi(emissions.numpy(), mask.numpy(), start, transitions, end)
    assert got.tolist() == expected.tolist()


@pytest.fixture(scope="module")
def exported(models, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("onnx")
    files = {}
    for name, model in models.items():
        files[name] = root / f"{len(files)}.onnx"
        assert run("export", model, "--onnx", files[name]) == 0
    return files


@pytest.mark.parametrize("name", ["char-CNN, CRF (POS)", *VARIANTS])
def test_onnx_emissions_equal_torch_emissions(models, exported, name):
    # The variants barely trained, so their tags say little: their scores must agree.
    inputs = sentences()
    scores, mask = OnnxTagger(exported[name]).emissions(inputs, documents())
    tagger = rnntag.load(models[name], "cpu")
    with torch.inference_mode():
        batch = tagger.encoder.batch(inputs, documents=documents())
        expected = tagger.model(batch)
    assert mask.tolist() == batch.mask.tolist()
    torch.testing.assert_close(
        torch.from_numpy(scores)[batch.mask], expected[batch.mask], atol=1e-5, rtol=1e-5
    )


def test_onnx_tags_equal_torch_tags_without_torch(models, exported):
    inputs = sentences()
    files = exported
    # One process for all the files: onnxruntime and numpy, and torch never imported. In
    # batches of 3 sentences by length, so that the document memory pools each document
    # over several batches, as `rnntag tag` does in torch.
    script = (
        "import json, sys\n"
        "from rnntag.exporting import runtime\n"
        "from rnntag.exporting.runtime import OnnxTagger\n"
        "runtime.BATCH_SENTENCES = 3\n"
        "files, inputs, documents = json.loads(sys.stdin.read())\n"
        "tags = {name: OnnxTagger(path).tag(inputs, documents) for name, path in files.items()}\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print(json.dumps(tags))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps([{k: str(v) for k, v in files.items()}, inputs, documents()]),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    for name, model in models.items():
        tagger = rnntag.load(model, "cpu")
        expected = [p.tags for p in tagger.predict(inputs, documents=documents())]
        assert got[name] == expected, name
    # The trained models tag more than O, so the comparison above means something.
    for name in ("char-CNN, CRF (NER)", "char-CNN, CRF (POS)"):
        assert len({tag for tags in got[name] for tag in tags}) > 3


def test_what_the_export_does_not_cover_is_refused_and_nothing_is_written(tmp_path):
    model = tmp_path / "model"
    train, dev = DATA / "ner-train.conll", DATA / "ner-dev.conll"
    bpe = ["--subword", "bpe", "--bpe-vocab-size", "60"]
    assert (
        run("train", train, "--dev", dev, "-o", model, *TINY_TRAINING, *bpe, "--epochs", "1") == 0
    )
    out = tmp_path / "model.onnx"
    out.write_text("an earlier export")
    result = run_captured("export", model, "--onnx", out)
    assert result.returncode == 1
    assert "byte-pair" in result.stderr and "Traceback" not in result.stderr
    assert out.read_text() == "an earlier export"


MEMORY = "char-CNN, CRF, document memory"


def _edit(source: Path, target: Path, edit) -> Path:
    """A copy of an exported file with its metadata (as parsed JSON) changed by `edit`."""
    graph = onnx.load(str(source))
    meta = {p.key: json.loads(p.value) for p in graph.metadata_props}
    edit(meta)
    del graph.metadata_props[:]
    for key, value in meta.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.save(graph, str(target))
    return target


METADATA_EDITS = {
    "no memory for a graph with states": lambda m: m.update(memory=None),
    "a scheme of no kind": lambda m: m["settings"].update(scheme="BIO"),
    "one label too many": lambda m: m["labels"].append("B-XYZ"),
    "one label too few": lambda m: m["labels"].pop(),
    "a CRF score that is not a number": lambda m: m["crf"]["start"].__setitem__(0, float("nan")),
    "a format from another release": lambda m: m["rnntag"].update(format_version=99),
    "no characters of a word read": lambda m: m["settings"].update(max_word_chars=0),
    "no settings": lambda m: m.pop("settings"),
    "a setting missing": lambda m: m["settings"].pop("lowercase"),
    "transitions of the wrong shape": lambda m: m["crf"].update(transitions=[1.0, 2.0]),
    "memory weights of the wrong shape": lambda m: m["memory"].update(flag=[0.0]),
    "no CRF for a CRF model": lambda m: m.update(crf=None),
    "words without their padding": lambda m: m["words"].pop(0),
    "labels that are no list": lambda m: m.update(labels="B-PER"),
}


@pytest.mark.parametrize("case", sorted(METADATA_EDITS))
def test_onnx_metadata_that_disagrees_with_itself_or_the_graph_is_refused(exported, tmp_path, case):
    edited = _edit(exported[MEMORY], tmp_path / "edited.onnx", METADATA_EDITS[case])
    with pytest.raises(RnntagError, match=r"metadata|not an ONNX file"):
        OnnxTagger(edited)


@pytest.mark.parametrize(
    ("sentences", "documents", "error"),
    [
        ([["Ada", ""]], None, ValueError),
        ([[]], None, ValueError),
        ([["Ada"]], [1, 1], ValueError),
        (["Ada"], None, TypeError),
    ],
)
def test_onnx_runtime_checks_its_input_as_the_api_does(exported, sentences, documents, error):
    with pytest.raises(error):
        OnnxTagger(exported[MEMORY]).tag(sentences, documents)
