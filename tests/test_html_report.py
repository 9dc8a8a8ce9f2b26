"""`rnntag eval --html` as a reader sees it, in headless Chromium, and `rnntag eval --errors`.

Each page is written through the CLI, then opened with `chromium --headless --dump-dom`: the
tests read the score table, the heat map and the highlighted sentences from the DOM Chromium
built, and fail on any console message (the page has no script, so any message is a fault:
a blocked load, a parse problem). Without Chromium the Chromium tests are skipped, except
under CI (the CI variable set), where that is a failure: `.ci/run` installs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pytest
from conftest import DATA, run
from test_analysis import GOLD, PRED, TOKENS  # every count there is known by hand

# Chromium logs every console message, errors included, as "[...:INFO:CONSOLE:1] ..."
# (older versions: "CONSOLE(1)") on stderr with --enable-logging=stderr --v=0.
CONSOLE_LINE = re.compile(r"^\[[^\]]*:CONSOLE\b.*$", re.MULTILINE)
CHROMIUM_TIMEOUT = 120


@dataclass
class Node:
    """An element of the rendered page."""

    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        """The element's classes."""
        return set(self.attrs.get("class", "").split())

    def text(self) -> str:
        """The element's text, white space collapsed."""
        parts = [c if isinstance(c, str) else c.text() for c in self.children]
        return " ".join(" ".join(parts).split())

    def find_all(self, tag: str, cls: str | None = None, id: str | None = None) -> list[Node]:
        """Descendants with this tag (and class, and id), in document order."""
        found = []
        for child in self.children:
            if isinstance(child, str):
                continue
            if (
                child.tag == tag
                and (cls is None or cls in child.classes)
                and (id is None or child.attrs.get("id") == id)
            ):
                found.append(child)
            found.extend(child.find_all(tag, cls, id))
        return found

    def find(self, tag: str, cls: str | None = None, id: str | None = None) -> Node:
        """The first such descendant; fails the test when there is none."""
        found = self.find_all(tag, cls, id)
        assert found, f"no <{tag}> with class {cls} and id {id} in the page"
        return found[0]


class _TreeBuilder(HTMLParser):
    VOID: ClassVar[set[str]] = {
        "meta",
        "br",
        "hr",
        "img",
        "input",
        "link",
        "col",
        "area",
        "base",
        "wbr",
        "source",
    }

    def __init__(self) -> None:
        super().__init__()
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(dom: str) -> Node:
    """A tree of the serialised DOM."""
    builder = _TreeBuilder()
    builder.feed(dom)
    builder.close()
    return builder.root


def chromium() -> str:
    """The Chromium binary; skip without one, except under CI, where that is a failure."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed, and CI is set: .ci/run should install it")
        pytest.skip("chromium is not installed (apt-get install chromium); CI makes this fail")
    return found


def render(page: Path | str, profile: Path, *options: str) -> tuple[Node, list[str]]:
    """Open a page (a file or a URL) in headless Chromium, with more `options`: its rendered
    DOM and its console messages."""
    result = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            f"--user-data-dir={profile}",
            *options,
            "--dump-dom",
            page if isinstance(page, str) else page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=CHROMIUM_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    assert "<html" in result.stdout, result.stderr
    return parse(result.stdout), CONSOLE_LINE.findall(result.stderr)


def run_captured(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """Run `rnntag ARGS` in this process: exit code, stdout, stderr."""
    code = run(*args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write_conll(path: Path, sentences: list[list[str]], tags: list[list[str]]) -> Path:
    path.write_text(
        "".join(
            "".join(f"{w}\t{t}\n" for w, t in zip(s, ts, strict=True)) + "\n"
            for s, ts in zip(sentences, tags, strict=True)
        ),
        encoding="utf-8",
    )
    return path


def heatmap(page: Node) -> tuple[list[str], dict[str, list[str]]]:
    """The heat map's column names and, by row name, its cells' text."""
    table = page.find("table", id="confusion")
    columns = [th.text() for th in table.find("thead").find_all("th")][1:]
    rows = {}
    for tr in table.find("tbody").find_all("tr"):
        rows[tr.find("th").text()] = [td.text() for td in tr.find_all("td")]
    return columns, rows


def score_rows(page: Node) -> dict[str, list[str]]:
    """The score table's rows by their first cell."""
    table = page.find("table", id="scores")
    rows = [[td.text() for td in tr.find_all("td")] for tr in table.find("tbody").find_all("tr")]
    return {row[0]: row[1:] for row in rows}


def percent(value: float) -> str:
    return f"{100 * value:.2f}"


def assert_self_contained(page: str) -> None:
    # Nothing to fetch: no links, sources, imports or url()s, and a policy that blocks loads.
    assert not re.search(r"\b(src|href)\s*=", page)
    assert "@import" not in page and "url(" not in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_console_messages_are_caught(tmp_path):
    # The check the other tests rely on: a planted script error must show up.
    page = tmp_path / "planted.html"
    page.write_text(
        "<!DOCTYPE html><html><body><p>hi</p>"
        "<script>console.error('planted message'); null.planted;</script></body></html>",
        encoding="utf-8",
    )
    dom, console = render(page, tmp_path / "profile")
    assert dom.find("p").text() == "hi"
    assert any("planted message" in line for line in console), console
    assert any("TypeError" in line for line in console), console


def test_ner_page_from_gold_and_predicted_files(tmp_path, capsys):
    gold = write_conll(tmp_path / "gold.conll", TOKENS, GOLD)
    pred = write_conll(tmp_path / "pred.conll", TOKENS, PRED)
    out = tmp_path / "report.html"

    code, stdout, stderr = run_captured(
        capsys, "eval", "--gold", gold, "--pred", pred, "--json", "--html", out
    )

    assert code == 0, stderr
    assert f"report written to {out}" in stderr
    result = json.loads(stdout)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gold.conll", "pred.conll", "report.html"]
    assert_self_contained(out.read_text(encoding="utf-8"))
    page, console = render(out, tmp_path / "profile")
    assert console == []

    assert "conlleval-compatible" in page.find("p", id="mode").text()
    rows = score_rows(page)
    assert list(rows) == ["LOC", "MISC", "ORG", "PER", "micro avg", "macro avg", "weighted avg"]
    for name, scores in [
        *result["spans"]["types"].items(),
        ("micro avg", result["spans"]["micro avg"]),
    ]:
        assert rows[name] == [
            percent(scores["precision"]),
            percent(scores["recall"]),
            percent(scores["f1"]),
            str(scores["support"]),
        ]
    # Counted by hand in tests/test_analysis.py.
    columns, cells = heatmap(page)
    assert columns == ["LOC", "MISC", "ORG", "PER", "missed", "boundary"]
    assert cells == {
        "LOC": ["1", "0", "0", "0", "1", "0"],
        "MISC": ["0", "0", "0", "0", "0", "0"],
        "ORG": ["0", "0", "0", "0", "0", "1"],
        "PER": ["0", "0", "1", "1", "0", "2"],
        "spurious": ["0", "1", "0", "0", "", ""],
        "boundary": ["1", "0", "1", "0", "", ""],
    }
    table = page.find("table", id="confusion")
    coloured = [td for td in table.find_all("td") if "background" in td.attrs.get("style", "")]
    assert len(coloured) == 9  # every non-zero cell
    assert {td.text() for td in table.find_all("td", cls="ok")} == {"1"}

    top = page.find("table", id="top-errors")
    assert [tr.find_all("td")[1].text() for tr in top.find("tbody").find_all("tr")] == [
        "boundary PER → ORG",
        "PER → ORG",
        "boundary ORG → LOC",
        "missed LOC",
        "spurious MISC",
    ]

    sentences = page.find("section", id="sentences")
    assert (
        sentences.find("p", id="sentence-count").text().startswith("3 sentences with errors (of 4)")
    )
    blocks = sentences.find_all("div", cls="sent")
    assert [b.find("h3").text() for b in blocks] == [
        "sentence 1, line 1",
        "sentence 2, line 10",
        "sentence 3, line 19",
    ]
    first_gold, first_pred = blocks[0].find_all("div", cls="line")
    assert [(m.text(), sorted(m.classes)) for m in first_gold.find_all("mark")] == [
        ("Ada Lovelace PER", ["ent", "ok"]),
        ("Charles Babbage PER", ["ent", "wrong"]),
        ("London LOC", ["ent", "wrong"]),
    ]
    assert [(m.text(), sorted(m.classes)) for m in first_pred.find_all("mark")] == [
        ("Ada Lovelace PER", ["ent", "ok"]),
        ("Charles Babbage ORG", ["ent", "wrong"]),
    ]
    assert first_pred.text() == "pred Ada Lovelace PER met Charles Babbage ORG in London ."
    assert all("background" in m.attrs["style"] for m in page.find_all("mark"))


@pytest.mark.parametrize(
    ("model", "data", "span_types"),
    [("ner", "ner-dev.conll", True), ("pos", "pos-dev.conllu", False)],
    ids=["ner", "pos"],
)
def test_page_of_a_shipped_model(tmp_path, capsys, model, data, span_types):
    out = tmp_path / f"{model}.html"

    code, stdout, stderr = run_captured(
        capsys, "eval", "-m", model, DATA / data, "--json", "--html", out
    )

    assert code == 0, stderr
    result = json.loads(stdout)
    assert_self_contained(out.read_text(encoding="utf-8"))
    page, console = render(out, tmp_path / "profile")
    assert console == []
    rows = score_rows(page)
    columns, cells = heatmap(page)
    if span_types:
        types = result["spans"]["types"]
        assert list(rows)[: len(types)] == list(types)
        for name, scores in types.items():
            assert rows[name][2] == percent(scores["f1"])
            # A type's row counts each of its gold spans once; its diagonal cell the right ones.
            row = [int(c.replace(",", "") or 0) for c in cells[name]]
            assert sum(row) == scores["support"]
            assert row[columns.index(name)] == round(scores["recall"] * scores["support"])
        assert columns[-2:] == ["missed", "boundary"]
        assert list(cells)[-2:] == ["spurious", "boundary"]
    else:
        tags = result["tags"]
        assert list(rows) == list(tags)
        assert columns == list(tags)
        for name, scores in tags.items():
            assert rows[name][2] == percent(scores["f1"])
            row = [int(c.replace(",", "")) for c in cells[name]]
            assert sum(row) == scores["support"]
    assert page.find("p", cls="note").text() != ""
    shown = page.find("section", id="sentences").find_all("div", cls="sent")
    assert shown, "the sample data has errors to show"
    for block in shown:
        # Every sentence shown has a highlighted error on one side or the other.
        if span_types:
            assert block.find_all("mark", cls="wrong")
        else:
            assert block.find_all("span", cls="bad")


def test_errors_listing_names_the_confusions_with_context(tmp_path, capsys):
    gold = write_conll(tmp_path / "gold.conll", TOKENS, GOLD)
    pred = write_conll(tmp_path / "pred.conll", TOKENS, PRED)

    code, stdout, stderr = run_captured(
        capsys, "eval", "--gold", gold, "--pred", pred, "--errors", "3"
    )

    assert code == 0, stderr
    listing = stdout[stdout.index("Most frequent errors") :]
    assert "Most frequent errors (3 of 5 kinds, 6 errors in all)" in listing
    lines = [line.strip() for line in listing.splitlines()]
    assert lines[1].split() == ["1.", "boundary", "PER", "→", "ORG", "2"]
    assert lines[2] == "Hewlett and Packard merged"
    assert lines[3] == 'gold PER "Hewlett", predicted ORG "Hewlett and Packard"'
    assert "2. PER → ORG" in listing and "3. boundary ORG → LOC" in listing
    assert "The Bank of England said so on Monday" in listing
    assert "missed LOC" not in listing


@pytest.mark.parametrize(
    ("extra", "hint"),
    [
        (["--errors", "-1"], "--errors"),
        (["--errors", "2", "--json"], "--errors"),
        (["--html", "no/such/folder/report.html"], "--html"),
    ],
    ids=["negative", "with-json", "missing-folder"],
)
def test_bad_report_options_are_usage_errors(tmp_path, capsys, monkeypatch, extra, hint):
    monkeypatch.chdir(tmp_path)
    gold = write_conll(tmp_path / "gold.conll", TOKENS, GOLD)

    code, stdout, stderr = run_captured(capsys, "eval", "--gold", gold, "--pred", gold, *extra)

    assert code == 2
    assert hint in stderr
    assert stdout == ""
