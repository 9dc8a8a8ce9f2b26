"""Pretrained vector files in every supported format give the same vectors."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from rnntag.errors import RnntagError
from rnntag.training.embeddings import load_vectors

VECTORS = {
    "the": [0.5, -1.25, 3.0],
    "london": [1.0, 2.0, -0.125],
    "Zürich": [0.0, 0.25, 7.5],
    "1999": [-2.0, 0.0, 1.0],
}


def write_text(path: Path, header: bool) -> None:
    lines = [f"{w} {' '.join(str(x) for x in v)}\n" for w, v in VECTORS.items()]
    if header:
        lines.insert(0, f"{len(VECTORS)} 3\n")
    data = "".join(lines).encode("utf-8")
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def write_binary(path: Path, header: bool) -> None:
    del header  # binary files always have one
    data = f"{len(VECTORS)} 3\n".encode()
    for word, vector in VECTORS.items():
        data += word.encode("utf-8") + b" " + np.array(vector, dtype="<f4").tobytes() + b"\n"
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


@pytest.mark.parametrize(
    ("name", "writer", "header"),
    [
        ("glove.txt", write_text, False),
        ("glove.txt.gz", write_text, False),
        ("fasttext.vec", write_text, True),
        ("fasttext.vec.gz", write_text, True),
        ("word2vec.bin", write_binary, True),
        ("word2vec.bin.gz", write_binary, True),
    ],
)
def test_every_format_reads_the_same_vectors(tmp_path, name, writer, header):
    path = tmp_path / name
    writer(path, header)
    vectors, dim = load_vectors(path, lambda word, rank: True)
    assert dim == 3
    assert set(vectors) == set(VECTORS)
    for word, expected in VECTORS.items():
        assert vectors[word].tolist() == expected


def test_only_selected_vectors_are_kept(tmp_path):
    path = tmp_path / "glove.txt"
    write_text(path, header=False)
    vectors, _ = load_vectors(path, lambda word, rank: rank < 1 or word == "1999")
    assert sorted(vectors) == ["1999", "the"]


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        (b"the 1 2 3\nof 1 2\n", 2, "expected 3 numbers"),
        (b"the 1 2 3\nof 1 x 3\n", None, "not a number"),
        (b"the 1 2 3\nlonely\n", 2, "expected a word and its vector"),
        (b"\xff\xfe 1 2 3\n", 1, "not valid UTF-8"),
    ],
)
def test_bad_vector_files_name_the_line(tmp_path, content, line, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(RnntagError, match=message) as caught:
        load_vectors(path, lambda word, rank: True)
    assert caught.value.line == line


def test_truncated_binary_file_is_refused(tmp_path):
    path = tmp_path / "cut.bin"
    write_binary(path, header=True)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(RnntagError, match="ends inside vector 4"):
        load_vectors(path, lambda word, rank: True)
