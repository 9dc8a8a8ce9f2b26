"""`rnntag tag` with the shipped models: inputs, output formats, offsets, model names,
streaming. Each output is checked against another path to the same tags (the JSON lines, the
default scheme), never against the shipped models' particular tags, which
tests/test_shipped_models.py states."""

from __future__ import annotations

import io
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import conllu
import pytest
from conftest import DATA, run, run_captured
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnntag.io import plaintext
from rnntag.io.formats import load_corpus
from rnntag.io.plaintext import read_text, text_blocks
from rnntag.io.schemes import convert
from rnntag.model.directory import resolve_model
from rnntag.tagging.tagger import Tagger
from rnntag.tagging.workers import WorkerPool, tag_chunk

TEXT = "Ada Lovelace was born in London.  She met Charles Babbage in 1833!\n\nIt's 5 p.m. now.\n"
UPOS = set("ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split())
SPAN_TAG = re.compile(r"O|[BI]-[A-Z]+")


def tag(capsys, *args: object) -> str:
    """Run `rnntag tag ARGS` in this process and return its standard output."""
    code = run("tag", *args)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


@pytest.fixture
def text_file(tmp_path) -> Path:
    path = tmp_path / "input.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def test_jsonl_offsets_point_at_the_input(capsys, text_file):
    records = [
        json.loads(line)
        for line in tag(capsys, "--output", "jsonl", "--scores", text_file).splitlines()
    ]
    assert [r["text"] for r in records] == [
        "Ada Lovelace was born in London.",
        "She met Charles Babbage in 1833!",
        "It's 5 p.m. now.",
    ]
    for record in records:
        for token in record["tokens"]:
            assert TEXT[token["start"] : token["end"]] == token["text"]
        assert set(record["tags"]) == {"pos", "ner"}
        assert set(record["tags"]["pos"]) <= UPOS
        for entity in record["entities"]["ner"]:
            assert TEXT[entity["start"] : entity["end"]] == entity["text"]
            assert 0.0 < entity["confidence"] <= 1.0


def test_jsonl_has_scores_only_when_asked_for(capsys, text_file):
    for record in map(json.loads, tag(capsys, "--output", "jsonl", text_file).splitlines()):
        assert "scores" not in record
        assert all("confidence" not in entity for entity in record["entities"]["ner"])


def test_tokens_input_offsets_point_at_the_sentence_text(capsys):
    out = tag(capsys, "-m", "ner", "--input", "tokens", "--output", "jsonl", DATA / "sentences.txt")
    for record in map(json.loads, out.splitlines()):
        for token in record["tokens"]:
            assert record["text"][token["start"] : token["end"]] == token["text"]


def test_default_models_give_pos_and_ner_columns(capsys, text_file):
    rows = [line.split("\t") for line in tag(capsys, text_file).splitlines() if line]
    assert rows[0][0] == "Ada"
    assert all(len(row) == 3 and row[1] in UPOS and SPAN_TAG.fullmatch(row[2]) for row in rows)


@pytest.mark.parametrize(
    "name", ["ner", "en-ner-conll03", str(DATA.parent / "models" / "en-ner-conll03")]
)
def test_models_by_name_or_path(name):
    assert resolve_model(name).resolve() == (DATA.parent / "models" / "en-ner-conll03").resolve()


def test_scores_add_probabilities(capsys, text_file):
    rows = [
        line.split("\t")
        for line in tag(capsys, "-m", "ner", "--scores", text_file).splitlines()
        if line
    ]
    assert all(len(row) == 3 and 0.0 <= float(row[2]) <= 1.0 for row in rows)


def tag_columns(out: str) -> list[list[str]]:
    """The last column of each sentence in CoNLL output."""
    return [[row.rsplit("\t", 1)[-1] for row in b.splitlines()] for b in out.split("\n\n") if b]


def test_output_scheme_iobes(capsys, text_file):
    iob2 = tag_columns(tag(capsys, "-m", "ner", text_file))
    iobes = tag_columns(tag(capsys, "-m", "ner", "--output-scheme", "IOBES", text_file))
    assert iobes == [convert(tags, "IOBES") for tags in iob2]


def marked(record: dict, pos: bool) -> str:
    """The first line `--output pretty` draws for a JSON lines record: each entity as its text
    and label, the other tokens with their POS tag (or, without one, the text as it is)."""
    text, begins = record["text"], {e["start"]: e for e in record["entities"]["ner"]}
    if not pos:  # offsets count from the start of the input, the text from its first token
        base, at, parts = record["tokens"][0]["start"], 0, []
        for entity in record["entities"]["ner"]:
            parts += [text[at : entity["start"] - base], f"{entity['text']}\u00b7{entity['label']}"]
            at = entity["end"] - base
        return "".join([*parts, text[at:]])
    words, inside = [], -1
    for token, tag in zip(record["tokens"], record["tags"]["pos"], strict=True):
        if token["start"] in begins:
            entity = begins[token["start"]]
            words.append(f"{entity['text']}\u00b7{entity['label']}")
            inside = entity["end"]
        elif token["start"] >= inside:
            words.append(f"{token['text']}/{tag}")
    return " ".join(words)


def test_inline_and_pretty(capsys, text_file):
    (record, *_) = map(json.loads, tag(capsys, "--output", "jsonl", text_file).splitlines())
    (ner_record, *_) = map(
        json.loads, tag(capsys, "-m", "ner", "--output", "jsonl", text_file).splitlines()
    )
    inline = tag(capsys, "--output", "inline", text_file).splitlines()
    tags = zip(record["tokens"], record["tags"]["pos"], record["tags"]["ner"], strict=True)
    assert inline[0] == " ".join(f"{t['text']}/{p}/{n}" for t, p, n in tags)
    pretty = tag(capsys, "--output", "pretty", text_file).splitlines()
    assert pretty[0] == "entities: LOC  MISC  ORG  PER"
    # A middle dot joins each label to its entity, so that no line break parts them.
    assert pretty[1] == marked(record, pos=True)
    # With no word tags in between, the text keeps its own spacing.
    assert tag(capsys, "-m", "ner", "--output", "pretty", text_file).splitlines()[1] == (
        marked(ner_record, pos=False)
    )


def test_pretty_gives_an_entity_type_one_colour_in_every_sentence():
    from rich.console import Console

    from rnntag.console.pretty import entity_styles, print_tagged
    from rnntag.io.sentence import InputSentence
    from rnntag.tagging.render import Column
    from rnntag.tagging.tagged import Prediction

    console = Console(record=True, width=200, file=io.StringIO())
    styles = entity_styles(["LOC", "ORG", "PER"])
    for tags in (["B-LOC", "O", "B-PER"], ["B-PER", "O", "B-ORG"], ["B-ORG", "O", "B-LOC"]):
        column = Column("ner", Prediction(tags), True)
        print_tagged(console, InputSentence(["A", "and", "B"]), [column], styles)
    page = console.export_html(inline_styles=True)
    colours: dict[str, set[str]] = {}
    for style, label in re.findall(
        r'<span style="([^"]*)">\w+</span><span [^>]*>(?:\u00b7|&#183;|&middot;)(\w+)</span>', page
    ):
        colours.setdefault(label, set()).add(style)
    assert sorted(colours) == ["LOC", "ORG", "PER"]
    assert all(len(found) == 1 for found in colours.values()), colours
    assert len({found.pop() for found in colours.values()}) == 3


def test_conllu_output_from_text_has_text_comments_and_both_models(capsys, text_file):
    out = tag(capsys, "--output", "conllu", text_file)
    blocks = out.strip().split("\n\n")
    assert len(blocks) == 3
    lines = blocks[0].splitlines()
    assert lines[:4] == [
        "# newdoc",
        "# newpar",
        "# sent_id = 1",
        "# text = Ada Lovelace was born in London.",
    ]
    first = lines[4].split("\t")
    assert first[1:3] == ["Ada", "_"] and first[3] in UPOS
    assert first[9].startswith("NER=") and SPAN_TAG.fullmatch(first[9].removeprefix("NER="))


def test_empty_input_prints_nothing(capsys, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    assert tag(capsys, empty) == ""


@pytest.mark.slow
def test_output_appears_before_the_input_ends():
    command = [sys.executable, "-m", "rnntag", "tag", "-m", "ner"]
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.DEVNULL}
    with subprocess.Popen(command, **pipes) as process:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(b"Ada Lovelace was born in London.\n")
        process.stdin.flush()
        # The input stays open: the first sentence must come back all the same.
        ready, _, _ = select.select([process.stdout], [], [], 120)
        if not ready:
            process.kill()
        assert ready, "no output while the input was still open"
        first = os.read(process.stdout.fileno(), 1 << 16).decode()
        assert first.startswith("Ada\t")
        process.stdin.write(b"Grace Hopper visited Paris.\n")
        process.stdin.close()
        rest = process.stdout.read().decode()
    assert process.returncode == 0
    assert "\nParis\t" in first + rest


def test_bench_reports_every_stage(capsys):
    assert run("bench", "-m", "ner", "--input", "tokens", "--json", DATA / "sentences.txt") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["tokens"] == 15 and result["sentences"] == 2
    assert set(result["stage_seconds"]) == {"read", "encode", "network", "decode", "tags", "write"}
    assert result["tokens_per_second"] > 0 and result["peak_memory_mb"] > 0


@pytest.mark.parametrize(
    ("name", "tokens", "sentences"),
    [("ner-dev.conll", 249, 30), ("pos-dev.conllu", 132, 20), ("sentences.txt", None, None)],
)
def test_bench_reads_each_file_as_tag_does_and_its_stages_add_up(capsys, name, tokens, sentences):
    # No format given: guessed from the name, as `rnntag tag` guesses it.
    assert run("bench", "-m", "ner", "--json", DATA / name) == 0
    result = json.loads(capsys.readouterr().out)
    assert run("tag", "-m", "ner", "--output", "jsonl", DATA / name) == 0
    tagged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert result["sentences"] == len(tagged) == (sentences or len(tagged))
    assert result["tokens"] == sum(len(s["tokens"]) for s in tagged) == (tokens or result["tokens"])
    stages = result["stage_seconds"]
    assert sum(stages.values()) == pytest.approx(result["seconds"], abs=0.01)
    # A memory model's network runs before its batches are given out: none of it is "encode".
    assert stages["network"] > stages["encode"] / 10


def test_every_command_that_runs_the_network_takes_threads(capsys):
    for command in ("train", "tag", "eval", "bench", "serve"):
        assert run(command, "--help") == 0
        assert "--threads" in capsys.readouterr().out, command
    assert run("bench", "-m", "ner", "--json", "--threads", "2", DATA / "sentences.txt") == 0
    assert json.loads(capsys.readouterr().out)["threads"] == 2


@pytest.mark.parametrize(("cores", "threads"), [(1, 1), (2, 1), (4, 2), (8, 4), (64, 4)])
def test_the_default_threads_are_half_the_cores_from_one_to_four(monkeypatch, cores, threads):
    from rnntag.model import device

    monkeypatch.setattr(device.os, "sched_getaffinity", lambda _: set(range(cores)))
    assert device.threads_for(0) == threads
    assert device.threads_for(3) == 3


def test_tokenisation_scores_against_gold_words(tmp_path):
    from rnntag.tagging.bench import tokenization_scores

    scores = tokenization_scores(str(DATA / "tricky.conllu"))
    assert scores["f1"] == 1.0
    # Its two sentences are one document: one end inside it, found.
    assert scores["sentence_ends"] == {
        "gold": 1, "predicted": 1, "correct": 1, "precision": 1.0, "recall": 1.0, "f1": 1.0
    }  # fmt: skip
    # One gold word the tokeniser cannot produce: "U.S" without its period.
    gold = "# text = The U.S. won\n1\tThe\t_\t_\t_\t_\t_\t_\t_\t_\n2\tU.S\t_\t_\t_\t_\t_\t_\t_\t_\n"
    gold += "3\t.\t_\t_\t_\t_\t_\t_\t_\t_\n4\twon\t_\t_\t_\t_\t_\t_\t_\t_\n\n"
    (tmp_path / "gold.conllu").write_text(gold, encoding="utf-8")
    scores = tokenization_scores(str(tmp_path / "gold.conllu"))
    assert (scores["gold"], scores["predicted"], scores["correct"]) == (4, 3, 2)


def test_nbest_sequences_in_jsonl(capsys, text_file):
    out = tag(capsys, "-m", "ner", "-m", "pos", "--output", "jsonl", "--nbest", "3", text_file)
    for record in map(json.loads, out.splitlines()):
        ranked = record["nbest"]["ner"]
        assert ranked[0]["tags"] == record["tags"]["ner"]
        probabilities = [r["probability"] for r in ranked]
        assert probabilities == sorted(probabilities, reverse=True)
        assert 0.0 < sum(probabilities) <= 1.0 + 1e-3
        assert len({tuple(r["tags"]) for r in ranked}) == len(ranked)


def test_nbest_needs_jsonl(capsys, text_file):
    code = run("tag", "--nbest", "2", str(text_file))
    assert code == 2
    assert "--nbest" in capsys.readouterr().err


@pytest.mark.slow
def test_the_wheel_carries_the_shipped_models(tmp_path):
    import zipfile

    root = DATA.parent
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(root)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("rnntag-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for model in ("en-ner-conll03", "en-pos-ewt"):
        for file in ("config.json", "words.txt", "chars.txt", "model.safetensors", "MODEL_CARD.md"):
            assert f"rnntag/models/{model}/{file}" in names
    # Every package of the source tree, the optional ones too.
    packages = {
        p.parent.relative_to(DATA.parent).as_posix()
        for p in (DATA.parent / "rnntag").rglob("__init__.py")
    }
    assert packages <= {name.rsplit("/", 1)[0] for name in names}


@pytest.mark.slow
@pytest.mark.parametrize(("input_format", "count"), [("tokens", 9_000), ("text", 500)])
def test_workers_give_the_same_output_in_the_same_order(tmp_path, input_format, count):
    lines = [
        line for line in (DATA / "sentences.txt").read_text(encoding="utf-8").splitlines() if line
    ]
    many = tmp_path / "many.txt"
    # Varied sentences; tokens over more than one chunk (CHUNK_SIZE sentences), so order
    # across workers matters (for text, see the next test).
    many.write_text(
        "\n\n".join(" ".join(lines[i % 2].split()[: 1 + i % 8]) for i in range(count)) + "\n",
        encoding="utf-8",
    )
    results = [
        run_captured("tag", "-m", "ner", "--input", input_format, "--output", "jsonl",
                     "--workers", workers, many)
        for workers in ("1", "2")
    ]  # fmt: skip
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    outputs = [r.stdout for r in results]
    assert outputs[0] == outputs[1]
    assert outputs[0].count("\n") == count


@pytest.mark.slow
def test_workers_split_blocks_of_text_as_one_process_splits_the_whole(monkeypatch):
    text = "".join(
        f"{TEXT.splitlines()[i % 3]}\n" + ("\n" if i % 4 == 0 else "") for i in range(200)
    )
    lines = text.splitlines(keepends=True)
    names = ["pos", "ner"]
    taggers = [Tagger.load(name) for name in names]
    # Small blocks, each a document of the memory as in one process.
    monkeypatch.setattr(plaintext, "BLOCK_SIZE", 300)
    sentences = list(read_text(lines, "-"))
    _, expected = tag_chunk(taggers, sentences, scores=True)
    with WorkerPool(names, None, 2) as pool:
        assert pool.spans == [False, True]
        results = list(pool.tag(text_blocks(lines, "-", size=300), scores=True))
    assert len(results) > 4
    assert [s for chunk, _ in results for s in chunk] == sentences
    for m in range(len(names)):
        got = [p for _, predicted in results for p in predicted[m]]
        assert [p.tags for p in got] == [p.tags for p in expected[m]]


@pytest.mark.parametrize(
    ("name", "flags"),
    [("pos-dev.conllu", []), ("pos-dev.conllu", ["--format", "conllu"]), ("ner-dev.conll", [])],
)
def test_tag_reads_conll_files_as_their_name_says(capsys, name, flags):
    path = DATA / name
    words = [s.tokens for s in load_corpus(str(path))]
    out = tag(capsys, "-m", "pos", *flags, path)
    rows = [block.splitlines() for block in out.strip("\n").split("\n\n")]
    assert [[row.split("\t")[0] for row in block] for block in rows] == words


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_reader_that_goes_away_ends_tagging_quietly(tmp_path, workers):
    many = tmp_path / "many.txt"
    # Far more output than a pipe holds, so that writing meets the closed pipe.
    many.write_text("London\n" * 9_000, encoding="utf-8")
    command = [sys.executable, "-m", "rnntag", "tag", "-m", "ner", "--input", "tokens",
               "--output", "jsonl", "--workers", workers, str(many)]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.read(100)
        process.stdout.close()
        stderr = process.stderr.read()
        process.wait(timeout=120)

    # As cat or grep killed by SIGPIPE: status 128 + 13, nothing on stderr.
    assert (process.returncode, stderr) == (141, b"")


def _children(pid: int) -> list[int]:
    """The process ids of `pid`'s children (Linux)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux's /proc")
def test_a_worker_that_dies_ends_the_run_with_an_error(tmp_path):
    many = tmp_path / "many.txt"
    # Short sentences, so that the first chunks come back soon; many, so that more follow.
    many.write_text("Ada Lovelace .\n" * 200_000, encoding="utf-8")
    command = [sys.executable, "-m", "rnntag", "tag", "-m", "ner", "--input", "tokens",
               "--workers", "2", str(many)]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline()  # the workers are tagging
        # The workers are forks of the fork server, a child as the resource tracker is.
        workers = [
            worker
            for pid in _children(process.pid)
            if b"forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes()
            for worker in _children(pid)
        ]
        assert workers
        os.kill(workers[0], signal.SIGKILL)
        # Bounded: before, the tagger waited for the dead worker forever.
        rest, errors = process.communicate(timeout=120)
        stderr = errors.decode()

    assert process.returncode == 1
    assert stderr.splitlines() == [
        "rnntag: error: a tagging worker process died (killed, or out of memory?); output stops"
        " at the last complete chunk"
    ]
    # What was written is whole sentences only.
    assert rest.endswith(b"\n\n") or not rest


def test_models_that_would_share_a_name_are_refused(tmp_path, capsys, tiny_models):
    (tmp_path / "sub").mkdir()
    shutil.copytree(tiny_models["ner"], tmp_path / "sub" / "ner")
    code = run(
        "tag", "-m", tiny_models["ner"], "-m", tmp_path / "sub" / "ner", DATA / "sentences.txt"
    )
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert "would both write their tags as 'ner'" in captured.err


def test_every_model_name_makes_a_valid_misc_key(tmp_path, capsys, monkeypatch, tiny_models):
    odd = tmp_path / "a|b=c d"
    shutil.copytree(tiny_models["pos"], odd)
    monkeypatch.chdir(tiny_models["ner"])
    assert (
        run("tag", "-m", "pos", "-m", odd, "-m", ".", "--output", "conllu", DATA / "sentences.txt")
        == 0
    )

    parsed = conllu.parse(capsys.readouterr().out)
    assert parsed
    for sentence in parsed:
        for token in sentence:
            # Beside the tags, where white space other than one space follows.
            assert set(token["misc"]) - {"SpaceAfter", "SpacesAfter"} == {"A_B_C_D", "NER"}


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--nbest", "101", "--nbest must be in 1..100"),
        ("--nbest", "0", "--nbest must be in 1..100"),
        ("--workers", "0", "--workers must be in 1.."),
        ("--workers", str((os.cpu_count() or 1) + 1), "the cores of this machine"),
    ],
)
def test_sizes_from_options_are_capped(capsys, option, value, message):
    code = run("tag", "-m", "ner", "--output", "jsonl", option, value, DATA / "sentences.txt")
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert message in captured.err


_PIECES = st.lists(
    st.one_of(
        st.sampled_from(["Ada", "met", "Bob", "in", "Oslo", ".", "It", "rained", "!", "(x)"]),
        st.sampled_from([" ", "  ", "\t", "\n", "\n\n", "\n \n\n", "\r\n", ""]),
    ),
    min_size=1,
    max_size=30,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(_PIECES)
def test_conllu_from_text_parses_and_rebuilds_the_text(tmp_path, pieces):
    from rnntag.io.spaces import rebuild

    text = "".join(pieces)
    source = tmp_path / "in.txt"
    source.write_bytes(text.encode("utf-8"))
    result = run_captured("tag", "-m", "pos", "--output", "conllu", source)
    assert result.returncode == 0, result.stderr
    parsed = conllu.parse(result.stdout)
    ids = [s.metadata["sent_id"] for s in parsed]
    assert len(set(ids)) == len(ids)
    if not text.strip():
        assert parsed == []
        return
    assert "newdoc" in parsed[0].metadata and "newpar" in parsed[0].metadata
    rebuilt = rebuild((t["form"], t["misc"]) for s in parsed for t in s)
    assert rebuilt == text


@pytest.mark.parametrize("width", [12, 17, 23, 31])
def test_pretty_never_wraps_a_label_away_from_its_entity(width):
    from rich.console import Console

    from rnntag.console.pretty import entity_styles, print_tagged
    from rnntag.io.plaintext import read_text
    from rnntag.tagging.render import Column
    from rnntag.tagging.tagged import Prediction

    (sentence,) = read_text(["We flew from Oslo to New York City via London .\n"], "x")
    tags = ["O", "O", "O", "B-LOC", "O", "B-LOC", "I-LOC", "I-LOC", "O", "B-LOC", "O"]
    console = Console(file=io.StringIO(), width=width, color_system=None)
    print_tagged(console, sentence, [Column("ner", Prediction(tags), True)], entity_styles(["LOC"]))
    lines = console.file.getvalue().splitlines()
    assert all(not line.lstrip().startswith(("LOC", "\u00b7")) for line in lines)
    assert sum(line.count("LOC") for line in lines) == 3
