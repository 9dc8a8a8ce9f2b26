"""Readers and writers for CoNLL, CoNLL-U and token files."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from conftest import DATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnntag.errors import RnntagError
from rnntag.io import plaintext
from rnntag.io.conll import read_conll, read_conllu, read_tokens
from rnntag.io.formats import ReadOptions, guess_format, load_corpus, read_sentences
from rnntag.io.plaintext import read_text, text_blocks
from rnntag.io.sentence import InputSentence
from rnntag.io.source import open_text
from rnntag.io.writers import write_conll, write_conllu

TRICKY_CONLL = str(DATA / "tricky.conll")
TRICKY_CONLLU = str(DATA / "tricky.conllu")

KAREN = ["Karen", "Spärck", "Jones", "visited", "Oslo", "."]
ACME = ["Acme", "Globex", "merged", "."]
I_DONT_KNOW = ["I", "do", "n't", "know", "."]
ADA_WENT = ["Ada", "went", "to", "Paris", ",", "and", "Bob", "too", "."]


def read_file(path: str, fmt: str, **options) -> list[InputSentence]:
    """All sentences of a file, read as the command line reads it."""
    with open_text(path) as stream:
        return list(read_sentences(stream, path, ReadOptions(fmt, **options)))


def conllu_line(token_id: str, form: str, upos: str = "X", misc: str = "_") -> str:
    """One CoNLL-U word line with the given id, form, upos and misc, other fields empty."""
    return "\t".join([token_id, form, "_", upos, "_", "_", "_", "_", "_", misc]) + "\n"


def test_tricky_conll_sample_is_read_exactly():
    # The sample starts with a BOM and -DOCSTART-, has CRLF ends, three blank lines between
    # the sentences and no newline after the last one.
    assert Path(TRICKY_CONLL).read_bytes().startswith(b"\xef\xbb\xbf-DOCSTART-")

    sentences = read_file(TRICKY_CONLL, "conll")

    assert [s.tokens for s in sentences] == [KAREN, ACME]
    assert [s.tags for s in sentences] == [
        ["I-PER", "I-PER", "I-PER", "O", "I-LOC", "O"],
        ["I-ORG", "B-ORG", "O", "O"],
    ]
    assert [s.line for s in sentences] == [3, 12]
    assert all(s.conllu is None for s in sentences)


@pytest.mark.parametrize(
    ("tag_column", "expected"),
    [
        (1, [["NNP", "NNP", "NNP", "VBD", "NNP", "."], ["NNP", "NNP", "VBD", "."]]),
        (2, [["B-NP", "I-NP", "I-NP", "B-VP", "B-NP", "O"], ["B-NP", "I-NP", "B-VP", "O"]]),
        (-1, [["I-PER", "I-PER", "I-PER", "O", "I-LOC", "O"], ["I-ORG", "B-ORG", "O", "O"]]),
        (-3, [["NNP", "NNP", "NNP", "VBD", "NNP", "."], ["NNP", "NNP", "VBD", "."]]),
        (None, [None, None]),
    ],
)
def test_conll_tag_column_choice(tag_column, expected):
    sentences = read_file(TRICKY_CONLL, "conll", tag_column=tag_column)

    assert [s.tags for s in sentences] == expected
    assert [s.tokens for s in sentences] == [KAREN, ACME]


def test_conll_with_one_column_has_no_tags():
    stream = io.StringIO("a\nb\n\n\nc\n")

    sentences = list(read_conll(stream, "words.conll"))

    assert [(s.tokens, s.tags, s.line) for s in sentences] == [
        (["a", "b"], None, 1),
        (["c"], None, 5),
    ]


def test_conll_tab_separated_fields_keep_inner_spaces():
    stream = io.StringIO("New York\tB-LOC\ncity\tO\n")

    (sentence,) = read_conll(stream, "spaces.conll")

    assert sentence.tokens == ["New York", "city"]
    assert sentence.tags == ["B-LOC", "O"]


@pytest.mark.parametrize(
    ("tag_field", "expected"),
    [
        (
            "upos",
            [
                ["PRON", "AUX", "PART", "VERB", "PUNCT"],
                ["PROPN", "VERB", "ADP", "PROPN", "PUNCT", "CCONJ", "PROPN", "ADV", "PUNCT"],
            ],
        ),
        (
            "xpos",
            [
                ["PRP", "VBP", "RB", "VB", "."],
                ["NNP", "VBD", "IN", "NNP", ",", "CC", "NNP", "RB", "."],
            ],
        ),
        (
            "misc:NER",
            [
                ["O", "O", "O", "O", "O"],
                ["B-PER", "O", "O", "B-LOC", "O", "O", "B-PER", "O", "O"],
            ],
        ),
    ],
)
def test_tricky_conllu_sample_tag_fields(tag_field, expected):
    sentences = read_file(TRICKY_CONLLU, "conllu", tag_field=tag_field)

    # The range 2-3 "don't" and the empty node 7.1 "went" are not words to tag.
    assert [s.tokens for s in sentences] == [I_DONT_KNOW, ADA_WENT]
    assert [s.tags for s in sentences] == expected
    assert [s.line for s in sentences] == [1, 11]


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        ("conll", "Ada\tB-PER\nspoke\tO\n\n\nBob\tB-PER\n"),
        ("conllu", "# c\n" + conllu_line("1", "Ada") + conllu_line("2", "spoke") + "\n\n"),
        ("tokens", "Ada spoke\n\nBob\n"),
    ],
)
def test_bom_and_crlf_read_like_plain_utf8(tmp_path, fmt, text):
    plain = tmp_path / "plain"
    windows = tmp_path / "windows"
    plain.write_bytes(text.encode("utf-8"))
    windows.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))

    expected = [(s.tokens, s.tags, s.line) for s in read_file(str(plain), fmt)]
    found = [(s.tokens, s.tags, s.line) for s in read_file(str(windows), fmt)]

    assert found == expected
    assert expected[0][0][0] == "Ada"


def test_conllu_words_without_tag_give_no_tags_when_not_required():
    text = conllu_line("1", "a", misc="NER=O") + conllu_line("2", "b")

    (sentence,) = read_conllu(io.StringIO(text), "partial.conllu", "misc:NER")

    assert sentence.tokens == ["a", "b"]
    assert sentence.tags is None


def test_conllu_written_back_unchanged_with_its_own_tags():
    original = Path(TRICKY_CONLLU).read_text(encoding="utf-8")
    out = io.StringIO()

    for sentence in read_file(TRICKY_CONLLU, "conllu"):
        write_conllu(out, sentence, sentence.tags or [])

    assert out.getvalue().splitlines() == original.splitlines()


def test_conllu_ranges_and_empty_nodes_survive_new_tags():
    original = Path(TRICKY_CONLLU).read_text(encoding="utf-8").splitlines()
    sentences = read_file(TRICKY_CONLLU, "conllu", tag_field="misc:NER")
    new_tags = [[f"T{i}" for i in range(len(s.tokens))] for s in sentences]
    out = io.StringIO()

    for sentence, tags in zip(sentences, new_tags, strict=True):
        write_conllu(out, sentence, tags, "misc:NER")

    written = out.getvalue().splitlines()
    assert len(written) == len(original)
    for before, after in zip(original, written, strict=True):
        fields = before.split("\t")
        if before.startswith("#") or not before or not fields[0].isdigit():
            # Comments, blank lines, ranges (2-3) and empty nodes (7.1) are copied as they were.
            assert after == before
        else:
            # Words keep their other fields and other MISC entries; only NER changes.
            new_fields = after.split("\t")
            assert new_fields[:9] == fields[:9]
            assert "NER=T" in new_fields[9]
            assert ("SpaceAfter=No" in new_fields[9]) == ("SpaceAfter=No" in fields[9])
    reread = list(read_conllu(io.StringIO(out.getvalue()), "written.conllu", "misc:NER"))
    assert [s.tokens for s in reread] == [I_DONT_KNOW, ADA_WENT]
    assert [s.tags for s in reread] == new_tags


def test_write_conll_then_read_conll_round_trip():
    sentences = [
        (["New York", "is", "big", "."], ["NNP", "VBZ", "JJ", "."], ["B-LOC", "O", "O", "O"]),
        (["Spärck", "Jones"], ["NNP", "NNP"], ["B-PER", "I-PER"]),
    ]
    out = io.StringIO()
    for tokens, pos, ner in sentences:
        write_conll(out, tokens, [pos, ner])
    text = out.getvalue()

    by_pos = list(read_conll(io.StringIO(text), "out.conll", tag_column=1))
    by_ner = list(read_conll(io.StringIO(text), "out.conll", tag_column=-1))

    assert [(s.tokens, s.tags) for s in by_pos] == [(t, p) for t, p, _ in sentences]
    assert [(s.tokens, s.tags) for s in by_ner] == [(t, n) for t, _, n in sentences]
    assert [s.line for s in by_ner] == [1, 6]


@pytest.mark.parametrize("tag_field", ["upos", "xpos", "misc:NER"])
def test_write_conllu_of_plain_tokens_gets_ids_and_text(tag_field):
    sentence = InputSentence(["Ada", "met", "Bob", "."], None, 1)
    tags = ["B-PER", "O", "B-PER", "O"]
    out = io.StringIO()

    write_conllu(out, sentence, tags, tag_field)

    lines = out.getvalue().splitlines()
    assert lines[:2] == ["# sent_id = 1", "# text = Ada met Bob ."]
    assert [line.split("\t")[:2] for line in lines[2:6]] == [
        ["1", "Ada"],
        ["2", "met"],
        ["3", "Bob"],
        ["4", "."],
    ]
    (reread,) = read_conllu(io.StringIO(out.getvalue()), "out.conllu", tag_field, True)
    assert reread.tokens == sentence.tokens
    assert reread.tags == tags


def test_tokens_file_one_sentence_per_line():
    sentences = read_file(str(DATA / "sentences.txt"), "tokens")

    assert [(s.tokens[:2], len(s.tokens), s.tags, s.line) for s in sentences] == [
        (["Ada", "Lovelace"], 7, None, 1),
        (["Grace", "Hopper"], 8, None, 3),
    ]


def test_tokens_reader_tolerates_crlf_and_missing_final_newline():
    sentences = list(read_tokens(io.StringIO("a b\r\n\r\nc  d"), "crlf.txt"))

    assert [(s.tokens, s.line) for s in sentences] == [(["a", "b"], 1), (["c", "d"], 3)]


def _conllu_without_upos() -> str:
    return (
        conllu_line("1", "a")
        + "\n# sent_id = 2\n"
        + conllu_line("1", "b")
        + conllu_line("2", "c", upos="_")
    )


@pytest.mark.parametrize(
    ("name", "content", "options", "line", "fragment"),
    [
        pytest.param(
            "ragged.conll",
            "a\tB\nb\tC\n\nc\tD\textra\n",
            {},
            4,
            "expected 2 columns as on line 1, found 3",
            id="ragged-columns",
        ),
        pytest.param(
            "range.conll",
            "a\tB\n",
            {"tag_column": 2},
            1,
            "tag column 2 is out of range for 2 columns",
            id="tag-column-too-high",
        ),
        pytest.param(
            "range.conll",
            "a\tB\n",
            {"tag_column": -3},
            1,
            "tag column -3 is out of range",
            id="tag-column-too-low",
        ),
        pytest.param(
            "words.conll",
            "\n\na\nb\n",
            {},
            3,
            "no tag column",
            id="one-column-needs-tags",
        ),
        pytest.param(
            "latin1.conll",
            b"a\tB\nb\tC\nc\xe9\tD\n",
            {},
            3,
            "cannot decode byte 0xe9",
            id="invalid-utf8-line-3",
        ),
        pytest.param(
            "short.conllu",
            "# c\n" + conllu_line("1", "a").replace("\t_\n", "\n"),
            {},
            2,
            "expected 10 tab-separated fields, found 9",
            id="conllu-nine-fields",
        ),
        pytest.param(
            "ids.conllu",
            conllu_line("1", "a") + conllu_line("two", "b"),
            {},
            2,
            "token id 'two' is not a number",
            id="conllu-bad-id",
        ),
        pytest.param(
            "noupos.conllu",
            _conllu_without_upos(),
            {},
            5,
            "a word has no upos tag",
            id="conllu-missing-upos",
        ),
        pytest.param(
            "noner.conllu",
            conllu_line("1", "a", misc="NER=O") + conllu_line("2", "b", misc="SpaceAfter=No"),
            {"tag_field": "misc:NER"},
            2,
            "a word has no NER tag",
            id="conllu-missing-misc-key",
        ),
        pytest.param(
            "field.conllu",
            conllu_line("1", "a"),
            {"tag_field": "lemma"},
            None,
            "tag field must be upos, xpos or misc:KEY, not 'lemma'",
            id="bad-tag-field",
        ),
        pytest.param("empty.conll", "\n\n", {}, None, "no sentences found", id="empty-file"),
    ],
)
def test_bad_input_names_file_and_line(tmp_path, name, content, options, line, fragment):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")

    with pytest.raises(RnntagError) as caught:
        load_corpus(str(path), ReadOptions(**options))

    assert caught.value.line == line
    assert fragment in caught.value.message
    if line is not None:
        assert caught.value.path == str(path)
        assert str(caught.value).startswith(f"{path}:{line}: ")


def test_invalid_utf8_from_a_strict_stream_is_still_an_error():
    # Streams not opened by open_text decode strictly; the error must stay an RnntagError.
    stream = io.TextIOWrapper(io.BytesIO(b"a\tB\n\xff\tC\n"), encoding="utf-8")

    with pytest.raises(RnntagError, match="not valid UTF-8"):
        list(read_conll(stream, "strict.conll"))


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        ("latin-1", "Zürich\tB-LOC\n".encode("latin-1")),
        ("utf-16", "Zürich\tB-LOC\n".encode("utf-16")),
    ],
)
def test_other_encodings_are_read_when_named(tmp_path, encoding, data):
    path = tmp_path / "other.conll"
    path.write_bytes(data)
    (sentence,) = load_corpus(str(path), ReadOptions("conll", encoding=encoding))
    assert sentence.tokens == ["Zürich"] and sentence.tags == ["B-LOC"]


@pytest.mark.parametrize(
    ("name", "otherwise", "expected"),
    [
        ("dev.conllu", "conll", "conllu"),
        ("dev.CoNLLU", "text", "conllu"),
        ("dev.conll", "text", "conll"),
        ("notes.txt", "text", "text"),
        ("notes.txt", "conll", "conll"),
        ("-", "text", "text"),
    ],
)
def test_the_format_is_guessed_from_the_suffix_in_any_case(name, otherwise, expected):
    assert guess_format(name, otherwise) == expected
    assert ReadOptions().format_of(name, otherwise) == expected
    assert ReadOptions("tokens").format_of(name, otherwise) == "tokens"


TOKENS = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]).filter(lambda c: not c.isspace()),
    min_size=1,
    max_size=8,
).filter(lambda t: t != "-DOCSTART-")
SENTENCES = st.lists(
    st.lists(
        st.tuples(TOKENS, st.sampled_from(["O", "B-PER", "I-LOC", "NOUN"])), min_size=1, max_size=6
    ),
    min_size=1,
    max_size=4,
)


def _through_file(
    tmp_path_factory, text: str, fmt: str, field: str = "upos"
) -> list[InputSentence]:
    path = tmp_path_factory.mktemp("roundtrip") / f"data.{fmt}"
    path.write_text(text, encoding="utf-8")
    with open_text(str(path)) as stream:
        read = ReadOptions(fmt, tag_field=field)  # type: ignore[arg-type]
        return list(read_sentences(stream, str(path), read))


@given(SENTENCES)
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_sentences_survive_conll(tmp_path_factory, sentences):
    out = io.StringIO()
    for pairs in sentences:
        write_conll(out, [t for t, _ in pairs], [[g for _, g in pairs]])
    read = _through_file(tmp_path_factory, out.getvalue(), "conll")
    assert [(s.tokens, s.tags) for s in read] == [
        ([t for t, _ in pairs], [g for _, g in pairs]) for pairs in sentences
    ]


@given(SENTENCES)
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_sentences_survive_conllu(tmp_path_factory, sentences):
    out = io.StringIO()
    for pairs in sentences:
        write_conllu(out, InputSentence([t for t, _ in pairs]), [g for _, g in pairs], "misc:NER")
    read = _through_file(tmp_path_factory, out.getvalue(), "conllu", "misc:NER")
    assert [(s.tokens, s.tags) for s in read] == [
        ([t for t, _ in pairs], [g for _, g in pairs]) for pairs in sentences
    ]


@given(st.binary(max_size=300), st.sampled_from(["conll", "conllu", "tokens", "text"]))
@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_garbage_gives_sentences_or_a_clean_error(tmp_path_factory, garbage, fmt):
    path = tmp_path_factory.mktemp("garbage") / "garbage"
    path.write_bytes(garbage)
    try:
        with open_text(str(path)) as stream:
            read, tagged = ReadOptions(fmt), fmt in ("conll", "conllu")
            list(read_sentences(stream, str(path), read, require_tags=tagged))
    except RnntagError as exc:
        assert exc.path == str(path)


_PARAGRAPH_TEXT = st.lists(
    st.sampled_from(["Ada met Bob in Oslo.", "It rained!", "", "  ", "Dr. Who left. Why?", "x"]),
    max_size=12,
).map(lambda lines: "".join(line + "\n" for line in lines))


@settings(max_examples=60, deadline=None)
@given(_PARAGRAPH_TEXT, st.integers(min_value=1, max_value=80))
def test_text_blocks_split_into_the_sentences_of_the_whole_input(text, size):
    lines = text.splitlines(keepends=True)
    # A block is a document: `read_text` cuts them where `text_blocks` does.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plaintext, "BLOCK_SIZE", size)
        whole = list(read_text(lines, "-"))
        blocks = list(text_blocks(lines, "-", size))
        in_blocks = [sentence for block in blocks for sentence in block.sentences()]
    assert in_blocks == whole
    assert [line for block in blocks for line in block.lines] == lines
    for block in blocks:
        assert {s.document for s in block.sentences()} <= {block.first_line}


_LINE_END_INPUTS = {
    "conll": "Ada\tB-PER\nspoke\tO\n\n\nBob\tB-PER\nran\tO\n",
    "conllu": "# c\n" + conllu_line("1", "Ada") + conllu_line("2", "spoke") + "\n"
    + conllu_line("1", "Bob") + "\n",
    "tokens": "Ada spoke\n\nBob ran\nthen\n",
    "text": "Ada spoke to Bob.\nHe ran.\n\nThen\nthey left. It rained.\n",
}  # fmt: skip


@pytest.mark.parametrize("fmt", sorted(_LINE_END_INPUTS))
@given(ends=st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=12, max_size=12))
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_universal_line_ends_read_like_line_feeds(tmp_path_factory, monkeypatch, fmt, ends):
    # Blocks of 3 bytes split many a CRLF between two reads.
    monkeypatch.setattr("rnntag.io.source.TextSource.BLOCK", 3)
    text = _LINE_END_INPUTS[fmt]
    lines = text.split("\n")
    chosen = [ends[i % len(ends)] for i in range(len(lines) - 1)]
    for i in range(1, len(chosen)):
        # A lone CR before an empty line's LF would make one CRLF, as it should.
        if chosen[i - 1] == "\r" and not lines[i] and chosen[i] != "\r":
            chosen[i] = "\r"
    mixed = "".join(line + end for line, end in zip(lines, chosen, strict=False))
    folder = tmp_path_factory.mktemp("ends")
    plain, other = folder / "plain", folder / "other"
    plain.write_bytes(text.encode("utf-8"))
    other.write_bytes(mixed.encode("utf-8"))

    expected = read_file(str(plain), fmt)
    found = read_file(str(other), fmt)

    assert [(s.tokens, s.tags, s.line) for s in found] == [
        (s.tokens, s.tags, s.line) for s in expected
    ]
    assert len(expected) >= 2
    for sentence in found if fmt == "text" else []:
        assert [mixed[a:b] for a, b in sentence.offsets or []] == sentence.tokens


@given(
    st.lists(
        st.text(st.sampled_from("ab .\n\r\x0b\x0c\x1c\x85\u2028\u2029"), min_size=1, max_size=8),
        min_size=1,
        max_size=6,
    )
)
@settings(max_examples=60)
def test_plain_text_line_numbers_count_every_line_end_before_the_sentence(pieces):
    text = "x. " + " ".join(pieces) + " end."
    # Lines as universal newlines cut them, ends kept.
    for sentence in read_text(io.StringIO(text, newline=""), "t", first_line=5):
        start = sentence.offsets[0][0] if sentence.offsets else 0
        before = text[:start]
        ends = before.count("\n") + before.count("\r") - before.count("\r\n")
        assert sentence.line == 5 + ends


@given(st.text(st.sampled_from("ab \n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"), max_size=12))
@settings(max_examples=80)
def test_conllu_text_comment_is_one_line_whatever_the_sentence_text(text):
    import conllu

    out = io.StringIO()
    write_conllu(out, InputSentence(["a", "b"], text="a" + text + "b"), ["X", "Y"])
    (parsed,) = conllu.parse(out.getvalue())

    assert [t["form"] for t in parsed] == ["a", "b"]
    assert parsed.metadata["text"].splitlines() == [parsed.metadata["text"]]


@pytest.mark.parametrize(
    ("encoding", "data", "named"),
    [
        ("utf-8", b"caf\xc3\xa9 \xe9\n", "as UTF-8"),
        ("UTF8", b"\xe9\n", "as UTF-8"),
        ("cp1252", b"A\x81\n", "as cp1252"),
        ("utf-16", b"\xff\xfeA\x00B", "not valid utf-16"),
    ],
)
def test_a_decoding_error_names_the_encoding_used(tmp_path, encoding, data, named):
    path = tmp_path / "input.txt"
    path.write_bytes(data)

    with pytest.raises(RnntagError, match=named) as caught, open_text(str(path), encoding) as s:
        list(read_text(s, str(path)))
    assert str(caught.value).startswith(f"{path}:1: ")
