"""Pretrained word vectors: GloVe text, word2vec/fastText text (`.vec`, with a `count dim`
header) and word2vec binary, each optionally gzipped.

Files are streamed: only the vectors that will be kept are parsed and held in memory, so a
400,000 x 300 file loads in seconds and memory is bounded by what the model keeps.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import numpy as np

from rnntag.errors import RnntagError
from rnntag.model.vocab import ranked

# Longest vector a file may hold (published embeddings have 25 to 1,000 numbers a word).
MAX_VECTOR_SIZE = 10_000


def _open_binary(path: Path) -> IO[bytes]:
    try:
        if path.suffix == ".gz":
            return gzip.open(path, "rb")  # type: ignore[return-value]
        return open(path, "rb")
    except OSError as exc:
        raise RnntagError(exc.strerror or "cannot open file", str(path)) from None


def _is_binary(path: Path) -> bool:
    name = path.name.removesuffix(".gz")
    return name.endswith(".bin")


def _text_entries(stream: IO[bytes], path: Path) -> Iterator[tuple[int, str, bytes]]:
    """(line number, word, the rest of the line) for each vector line of a text file."""
    for number, raw in enumerate(stream, start=1):
        line = raw.rstrip(b"\r\n")
        if number == 1:
            header = line.split()
            # word2vec/fastText text files start with "count dim".
            if len(header) == 2 and header[0].isdigit() and header[1].isdigit():
                continue
        cut = line.find(b" ")
        if cut <= 0:
            if line.strip():
                raise RnntagError("expected a word and its vector", str(path), number)
            continue
        try:
            word = line[:cut].decode("utf-8")
        except UnicodeDecodeError:
            raise RnntagError("word is not valid UTF-8", str(path), number) from None
        yield number, word, line[cut + 1 :]


def _binary_entries(stream: IO[bytes], path: Path) -> Iterator[tuple[int, str, np.ndarray]]:
    """(entry number, word, vector) for each entry of a word2vec binary file."""
    header = stream.readline().split()
    if len(header) != 2 or not header[0].isdigit() or not header[1].isdigit():
        raise RnntagError("word2vec binary file must start with 'count dim'", str(path), 1)
    count, dim = int(header[0]), int(header[1])
    if not 1 <= dim <= MAX_VECTOR_SIZE:
        raise RnntagError(
            f"header gives vectors of {dim} numbers; expected 1 to {MAX_VECTOR_SIZE}", str(path), 1
        )
    for number in range(1, count + 1):
        word = bytearray()
        while (byte := stream.read(1)) != b" ":
            if not byte:
                raise RnntagError(f"file ends after {number - 1} of {count} vectors", str(path))
            if byte != b"\n":
                word += byte
        data = stream.read(4 * dim)
        if len(data) != 4 * dim:
            raise RnntagError(f"file ends inside vector {number}", str(path))
        yield number, word.decode("utf-8", errors="replace"), np.frombuffer(data, dtype="<f4")


def load_vectors(path: Path, keep: Callable[[str, int], bool]) -> tuple[dict[str, np.ndarray], int]:
    """Read the vectors that `keep` selects.

    Args:
        path: Vector file (`.txt`, `.vec`, `.bin`, any of them `.gz`).
        keep: Called with each word and its 0-based rank in the file; True keeps it.

    Returns:
        The kept vectors by word (the first occurrence of a repeated word wins) and the
        vector size.
    """
    with _open_binary(path) as stream:
        try:
            if _is_binary(path):
                return _read_binary(stream, path, keep)
            return _read_text(stream, path, keep)
        except (OSError, EOFError) as exc:
            raise RnntagError(f"cannot read vectors: {exc}", str(path)) from None


def _read_binary(
    stream: IO[bytes], path: Path, keep: Callable[[str, int], bool]
) -> tuple[dict[str, np.ndarray], int]:
    vectors: dict[str, np.ndarray] = {}
    dim = 0
    for rank, (number, word, vector) in enumerate(_binary_entries(stream, path)):
        dim = len(vector)
        if word not in vectors and keep(word, rank):
            vectors[word] = vector.astype(np.float32)
            _check_finite(vectors[word][None], [number], path)
    return vectors, dim


def _read_text(
    stream: IO[bytes], path: Path, keep: Callable[[str, int], bool]
) -> tuple[dict[str, np.ndarray], int]:
    words: dict[str, int] = {}
    rows: list[bytes] = []
    numbers: list[int] = []
    rank = -1
    for rank, (number, word, rest) in enumerate(_text_entries(stream, path)):
        if word not in words and keep(word, rank):
            words[word] = len(rows)
            rows.append(rest.strip() + b"\n")
            numbers.append(number)
    if rank < 0:
        raise RnntagError("no vectors found", str(path))
    if not rows:
        # Vectors, none of them wanted (the new words of a fine-tuning, say): nothing to add.
        return {}, 0
    # One C-level parse of all kept rows is many times faster than a parse per line.
    try:
        matrix = np.loadtxt(
            io.BytesIO(b"".join(rows)), dtype=np.float32, delimiter=" ", comments=None, ndmin=2
        )
    except ValueError:
        dim = len(rows[0].split())
        for row, number in zip(rows, numbers, strict=True):
            if len(row.split()) != dim:
                raise RnntagError(
                    f"expected {dim} numbers, found {len(row.split())}", str(path), number
                ) from None
        raise RnntagError("vectors hold something that is not a number", str(path)) from None
    if matrix.shape[1] > MAX_VECTOR_SIZE:
        raise RnntagError(f"vectors of more than {MAX_VECTOR_SIZE} numbers", str(path), numbers[0])
    _check_finite(matrix, numbers, path)
    return {word: matrix[i] for word, i in words.items()}, matrix.shape[1]


def _check_finite(matrix: np.ndarray, numbers: list[int], path: Path) -> None:
    """Refuse `nan`, `inf` and numbers beyond float32 (`1e39`) in (rows, dim) vectors whose
    rows stand on lines `numbers`: they would make every loss and weight NaN."""
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        raise RnntagError(
            "vector holds a number that is not finite (nan, inf, or beyond float32)",
            str(path),
            numbers[int(np.argmin(finite))],
        )


def pretrained_vocabulary(
    path: Path, train_counts: dict[str, int], max_words: int, key: Callable[[str], str], seed: int
) -> tuple[list[str], np.ndarray, int]:
    """A word vocabulary with initial vectors: the training words, then the `max_words` most
    frequent pretrained words.

    A vocabulary entry takes the vector of the same key in the file, else of its lowercased
    form (GloVe is lowercased); the others are drawn uniformly from +-sqrt(3 / dim).

    Args:
        path: Vector file.
        train_counts: Training word keys (already digit-normalised) and their counts.
        max_words: How many of the file's first words to add beyond the training words.
        key: The lookup key of a word, as for the training words.
        seed: Seed for the vectors of words the file lacks.

    Returns:
        The vocabulary (`PAD` and `UNK` first), its (len, dim) matrix, and how many entries
        got a pretrained vector.
    """
    wanted = set(train_counts) | {key.lower() for key in train_counts}

    def keep(word: str, rank: int) -> bool:
        return rank < max_words or key(word) in wanted

    vectors, dim = load_vectors(path, keep)
    if not vectors:
        raise RnntagError(
            "no vector for a training word, nor any with --embeddings-max 0", str(path)
        )
    by_key: dict[str, np.ndarray] = {}
    for word, vector in vectors.items():  # file order: the most frequent form of a key wins
        by_key.setdefault(key(word), vector)
    words = ranked(train_counts)
    known = set(words)
    words += [key for key in by_key if key not in known]
    bound = float(np.sqrt(3.0 / dim))
    matrix = (
        np.random.default_rng(seed).uniform(-bound, bound, (len(words), dim)).astype(np.float32)
    )
    matrix[0] = 0.0
    found = 0
    for i, word in enumerate(words[2:], start=2):
        source = word if word in by_key else word.lower()
        if source in by_key:
            matrix[i] = by_key[source]
            found += 1
    return words, matrix, found
