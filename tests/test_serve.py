"""`rnntag serve` as a client sees it: a server process on a free port of 127.0.0.1, a bounded
concurrent load whose every answer must equal `rnntag tag --output jsonl`, clean refusals of
bad requests, the page in headless Chromium, and a SIGTERM that lets the request in flight
finish."""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from conftest import DATA, run_captured
from test_html_report import render

from rnntag.serving.service import MAX_BODY_BYTES, MAX_CHARACTERS

TEXTS = [
    "Ada Lovelace met Charles Babbage in London.",
    "Grace Hopper worked for the U.S. Navy in Arlington, Virginia. She wrote a compiler.",
    "The cat sleeps.\n\nMarie Curie moved to Paris in 1891 and won two Nobel prizes.",
    "Nothing to see here!",
]
REQUESTS, CLIENTS = 160, 8
# Seconds any one step may take before the test fails rather than hangs.
TIMEOUT = 60


class Server:
    """A running `rnntag serve` process."""

    def __init__(self, process: subprocess.Popen[str], url: str):
        self.process = process
        self.url = url
        parts = urlsplit(url)
        assert parts.hostname == "127.0.0.1"
        self.host, self.port = parts.hostname, parts.port

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)

    def ask(
        self, method: str, path: str, body: bytes | None = None, connection: Any = None
    ) -> tuple[int, Any]:
        """Send one request, on `connection` or a new one; its status and its JSON answer."""
        own = connection is None
        through = self.connect() if own else connection
        with contextlib.closing(through) if own else contextlib.nullcontext():
            through.request(method, path, body, {"Content-Type": "application/json"})
            response = through.getresponse()
            return response.status, json.loads(response.read())


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    process = subprocess.Popen(
        [sys.executable, "-m", "rnntag", "serve", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The one line it says once it listens: "rnntag: serving pos, ner on http://...".
        timer = threading.Timer(TIMEOUT, process.kill)
        timer.start()
        line = process.stderr.readline() if process.stderr else ""
        timer.cancel()
        assert " on http://127.0.0.1:" in line, line
        yield Server(process, line.split(" on ")[-1].strip())
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(TIMEOUT)
        if process.stderr:
            process.stderr.close()


def jsonl(tmp_path: Path, text: str, *options: str) -> list[Any]:
    """What `rnntag tag --output jsonl` writes for `text`, read back."""
    source = tmp_path / f"input-{abs(hash((text, options)))}.txt"
    source.write_text(text, encoding="utf-8")
    result = run_captured("tag", "--output", "jsonl", *options, source)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def cases(tmp_path: Path) -> list[tuple[dict[str, Any], list[Any]]]:
    """Requests of every kind, each with the answer `rnntag tag` gives for the same input."""
    found = [({"text": text}, jsonl(tmp_path, text)) for text in TEXTS]
    text = TEXTS[1]
    found.append(
        (
            {"text": text, "models": ["ner"], "scheme": "IOBES"},
            jsonl(tmp_path, text, "-m", "ner", "--output-scheme", "IOBES"),
        )
    )
    lines = [line.split() for line in (DATA / "sentences.txt").read_text().splitlines()]
    sentences = [tokens for tokens in lines if tokens] + [text.split() for text in TEXTS]
    for models in (["pos", "ner"], ["ner"]):
        options = [option for model in models for option in ("-m", model)]
        expected = jsonl(
            tmp_path, "\n".join(map(" ".join, sentences)), "--input", "tokens", *options
        )
        found.append(({"tokens": sentences, "models": models}, expected))
    return found


def test_every_answer_under_concurrent_load_is_what_tag_writes(server, tmp_path, rng):
    known = cases(tmp_path)
    order = [rng.randrange(len(known)) for _ in range(REQUESTS)]
    bodies = [json.dumps(payload).encode() for payload, _ in known]

    def client(share: list[int]) -> list[tuple[int, int, Any]]:
        with contextlib.closing(server.connect()) as connection:  # kept alive throughout
            return [(i, *server.ask("POST", "/tag", bodies[i], connection)) for i in share]

    shares = [order[k::CLIENTS] for k in range(CLIENTS)]
    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = [answer for share in pool.map(client, shares) for answer in share]
    assert len(answers) == REQUESTS
    for i, status, answer in answers:
        assert status == 200, answer
        assert answer["sentences"] == known[i][1], known[i][0]
    status, health = server.ask("GET", "/health")
    assert status == 200 and health["status"] == "ok"
    assert health["requests"] >= REQUESTS
    # Eight clients at once: requests were gathered into shared batches.
    assert health["batches"] < health["requests"]


def test_models_lists_what_was_loaded(server):
    status, answer = server.ask("GET", "/models")
    assert status == 200
    models = {m["name"]: m for m in answer["models"]}
    assert list(models) == ["pos", "ner"]
    assert models["ner"]["spans"] and models["ner"]["scheme"] == "IOB2"
    assert "B-PER" in models["ner"]["labels"] and "NOUN" in models["pos"]["labels"]
    assert not models["pos"]["spans"] and models["pos"]["schemes"] == []


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "says"),
    [
        ("POST", "/tag", b"{bad", 400, "not JSON"),
        ("POST", "/tag", b"\xff\xfe", 400, "not JSON"),
        ("POST", "/tag", b"[1]", 422, "JSON object"),
        ("POST", "/tag", b'{"text": "x", "model": "ner"}', 422, "unknown field 'model'"),
        ("POST", "/tag", b'{"text": "x", "tokens": [["x"]]}', 422, "either"),
        ("POST", "/tag", b'{"text": 3}', 422, "must be a string"),
        ("POST", "/tag", b'{"tokens": [["two words"]]}', 422, "no token"),
        ("POST", "/tag", b'{"tokens": [[]]}', 422, "no tokens"),
        ("POST", "/tag", b'{"text": "x", "nbest": 0}', 422, "nbest"),
        ("POST", "/tag", b'{"text": "x", "scheme": "BIO"}', 422, "scheme"),
        ("POST", "/tag", b'{"text": "x", "models": ["models/en-ner-conll03"]}', 422, "not loaded"),
        ("POST", "/tag", b'{"text": "x", "models": ["ner", "ner"]}', 422, "twice"),
        ("POST", "/tag", json.dumps({"text": "a " * MAX_CHARACTERS}).encode(), 413, "characters"),
        ("POST", "/tag", b" " * (MAX_BODY_BYTES + 1), 413, "bytes"),
        ("GET", "/tag", None, 405, "Method Not Allowed"),
        ("GET", "/nothing", None, 404, "Not Found"),
    ],
)
def test_bad_requests_are_refused_in_one_line(server, method, path, body, status, says):
    got, answer = server.ask(method, path, body)
    assert got == status
    assert says in answer["error"] and "\n" not in answer["error"]
    assert "Traceback" not in answer["error"]


def test_the_page_tags_what_is_typed_in_headless_chromium(server, tmp_path):
    text = "Ada Lovelace met Charles Babbage in London."
    page, console = render(
        f"{server.url}?text={quote(text)}",
        tmp_path / "profile",
        # Virtual time runs until the page's request to the server is answered.
        "--virtual-time-budget=20000",
    )
    assert console == []
    # The page shows what `rnntag tag` finds in the text.
    (record,) = jsonl(tmp_path, text)
    marks = page.find("div", id="out").find_all("mark")
    assert [(m.attrs["data-type"], m.text()) for m in marks] == [
        (e["label"], f"{e['text']} {e['label']}") for e in record["entities"]["ner"]
    ]
    # The POS tags are on hover.
    assert page.find("span", "token").attrs["title"] == f"pos: {record['tags']['pos'][0]}"
    assert page.find("span", id="status").text() == "1 sentence"


def test_sigterm_answers_the_request_in_flight_then_exits(server):
    # Last in this module: it stops the server.
    text = " ".join([*TEXTS[:2]] * (MAX_CHARACTERS // 1000))
    answers: list[tuple[int, Any]] = []
    before = server.ask("GET", "/health")[1]["requests"]
    sender = threading.Thread(
        target=lambda: answers.append(
            server.ask("POST", "/tag", json.dumps({"text": text}).encode())
        )
    )
    sender.start()
    deadline = time.monotonic() + TIMEOUT
    while server.ask("GET", "/health")[1]["requests"] == before:
        assert time.monotonic() < deadline, "the request never reached the server"
        time.sleep(0.01)
    server.process.send_signal(signal.SIGTERM)
    sender.join(TIMEOUT)
    assert server.process.wait(TIMEOUT) == -signal.SIGTERM
    [(status, answer)] = answers
    assert status == 200
    assert " ".join(s["text"] for s in answer["sentences"]) == text.strip()
