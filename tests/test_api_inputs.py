"""Every entry point checks its input the same way: the wrong type is a `TypeError` naming
the type expected, a bad value a `ValueError` (a 422 from `serve`), never a wrong answer
or an error from deep inside; invisible format characters never raise."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnntag
from rnntag.errors import RnntagError
from rnntag.serving.service import RequestError, TaggingService

WRONG_TEXTS = [b"Paris is nice.", None, 3, ["Paris"]]
WRONG_SENTENCES = [
    ("Paris is nice", TypeError),
    (["Paris is nice"], TypeError),
    ([[b"Paris"]], TypeError),
    ([["Paris", None]], TypeError),
    ([[""]], ValueError),
    ([["Paris is"]], ValueError),
]


@pytest.fixture(scope="module")
def tagger(tiny_models) -> rnntag.Tagger:
    return rnntag.load(str(tiny_models["ner"]), device="cpu")


@pytest.fixture(scope="module")
def service(tiny_models) -> TaggingService:
    return TaggingService([str(tiny_models["ner"])], "cpu")


@pytest.mark.parametrize("text", WRONG_TEXTS)
def test_tag_refuses_what_is_not_text(tagger, text):
    with pytest.raises(TypeError, match="str"):
        tagger.tag(text)


@pytest.mark.parametrize("texts", ["Paris is nice.", b"Paris", [b"Paris"], ["ok", None]])
def test_iter_tag_refuses_one_text_or_texts_of_the_wrong_type(tagger, texts):
    with pytest.raises(TypeError):
        list(tagger.iter_tag(texts))


@pytest.mark.parametrize(("sentences", "error"), WRONG_SENTENCES)
def test_tag_tokens_and_serve_refuse_the_same_sentences(tagger, service, sentences, error):
    with pytest.raises(error):
        tagger.tag_tokens(sentences)
    with pytest.raises(RequestError) as refused:
        # JSON has no bytes: a number stands for them, of the wrong type too.
        service.parse(json.dumps({"tokens": sentences}, default=lambda _: 0).encode())
    assert refused.value.status == 422


@pytest.mark.parametrize("scheme", ["iob2", "BIO", "IOB3"])
def test_every_entry_point_refuses_an_unknown_output_scheme(tiny_models, scheme):
    from rnntag.tagging.cluster import tag_files

    with pytest.raises(RnntagError, match="output scheme"):
        rnntag.load(str(tiny_models["ner"]), output_scheme=scheme)
    with pytest.raises(RnntagError, match="output scheme"):
        rnntag.Tagger.load(str(tiny_models["ner"]), output_scheme=scheme)
    # Refused before any cluster is asked for.
    with pytest.raises(RnntagError, match="output scheme"):
        tag_files(None, [], "out", output_scheme=scheme)


FORMAT = st.sampled_from(["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u202e"])


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.one_of(FORMAT, st.sampled_from(["b", "Paris", " ", "\n", "."])), max_size=12))
def test_format_characters_never_raise_and_keep_offsets(tagger, pieces):
    text = "".join(pieces)
    for sentence in tagger.tag(text):
        for token in sentence.tokens:
            assert text[token.start : token.end] == token.text
        for entity in sentence.entities or []:
            assert text[entity.start : entity.end] == entity.text
            assert entity.text.strip("\u200b\u202e\ufeff") == entity.text


def test_tag_serve_and_info_agree_on_the_output_scheme(tiny_models, capsys):
    from conftest import DATA, run

    model = str(tiny_models["ner"])
    (described,) = TaggingService([model], "cpu").describe()
    assert described["scheme"] == "IOB2"
    assert run("tag", "-m", model, "--output", "conll", DATA / "sentences.txt") == 0
    tags = {line.split("\t")[-1] for line in capsys.readouterr().out.splitlines() if line}
    assert tags <= set(described["labels"])
    assert {t[:2] for t in tags} <= {"B-", "I-", "O"}
    assert run("info", model) == 0
    assert "IOB2 (its data's" in " ".join(capsys.readouterr().out.split())
