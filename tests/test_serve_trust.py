"""`serve` under hostile and careless requests: each is refused in JSON with its own status
before it joins a batch, a failure reaches only the request that caused it, an abandoned
request's work is dropped, and a page on another site cannot reach a local tagger. All
traffic goes to 127.0.0.1, bounded in count and time."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import subprocess
import sys

import pytest
from conftest import DATA, TINY_TRAINING, run
from test_serve import TIMEOUT, server  # noqa: F401  (the module's server fixture)

from rnntag.serving.app import allowed_hosts
from rnntag.serving.service import (
    MAX_TOKENS_NBEST,
    Batcher,
    Request,
    RequestError,
    TaggingService,
)


@pytest.fixture(scope="module")
def service(tiny_models, tmp_path_factory) -> TaggingService:
    """A tiny CRF model and a tiny softmax one."""
    soft = tmp_path_factory.mktemp("soft") / "soft"
    train, dev = DATA / "ner-train.conll", DATA / "ner-dev.conll"
    args = [*TINY_TRAINING, "--epochs", "1", "--decoder", "softmax"]
    assert run("train", train, "--dev", dev, "-o", soft, *args) == 0
    return TaggingService([str(tiny_models["ner"]), str(soft)], "cpu")


BAD_BODIES = {
    "nbest of a model without a CRF": (b'{"text": "hi", "models": ["soft"], "nbest": 2}', 422),
    "nesting too deep": (b"[" * 100_000 + b"]" * 100_000, 400),
    "an integer of 5,000 digits": (b'{"text": "hi", "nbest": ' + b"9" * 5000 + b"}", 400),
    "a lone surrogate in a token": (b'{"tokens": [["\\ud800"]]}', 422),
    "too much work asked for": (
        json.dumps({"tokens": [["a"] * 2001], "models": ["ner"], "nbest": 100}).encode(),
        413,
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_a_bad_request_is_refused_before_it_joins_a_batch(service, case):
    body, status = BAD_BODIES[case]
    with pytest.raises(RequestError) as refused:
        service.parse(body)
    assert refused.value.status == status


def test_the_work_cap_is_what_the_refusal_says():
    assert 2001 * 100 > MAX_TOKENS_NBEST >= 2000 * 100


def test_a_failure_in_a_batch_reaches_only_its_own_request(service, monkeypatch):
    good = service.parse(b'{"text": "Ada met Bob."}')
    bad = service.parse(b'{"text": "Oslo."}')
    tag = service.tag

    def failing(requests: list[Request]) -> list:
        if any(r is bad for r in requests):
            raise RuntimeError("this request breaks tagging")
        return tag(requests)

    monkeypatch.setattr(service, "tag", failing)

    async def both() -> list:
        batcher = Batcher(service, wait=0.05)
        runner = asyncio.create_task(batcher.run())
        try:
            return await asyncio.gather(
                batcher.submit(good), batcher.submit(bad), return_exceptions=True
            )
        finally:
            runner.cancel()

    answered, failed = asyncio.run(asyncio.wait_for(both(), TIMEOUT))
    assert answered == tag([good])[0]
    assert isinstance(failed, RuntimeError)


def test_an_abandoned_request_is_not_tagged(service, monkeypatch):
    seen: list[int] = []
    tag = service.tag
    monkeypatch.setattr(service, "tag", lambda rs: seen.append(len(rs)) or tag(rs))
    kept, dropped = (service.parse(b'{"text": "Ada met Bob."}') for _ in range(2))

    async def one_abandoned() -> None:
        batcher = Batcher(service, wait=0.05)
        waiting = asyncio.ensure_future(batcher.submit(dropped))
        answer = asyncio.ensure_future(batcher.submit(kept))
        await asyncio.sleep(0)
        waiting.cancel()  # as the server does when its client goes away
        runner = asyncio.create_task(batcher.run())
        try:
            await answer
        finally:
            runner.cancel()

    asyncio.run(asyncio.wait_for(one_abandoned(), TIMEOUT))
    assert seen == [1]


def _post(server, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:  # noqa: F811
    connection = http.client.HTTPConnection(server.host, server.port, timeout=TIMEOUT)
    try:
        connection.request("POST", "/tag", body, headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Content-Type": "text/plain"}, 415),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ({"Content-Type": "application/json", "Host": "evil.example:8000"}, 421),
        ({"Content-Type": "application/json; charset=utf-8"}, 200),
    ],
)
def test_cross_site_requests_are_refused(server, headers, status):  # noqa: F811
    code, answer = _post(server, b'{"text": "Ada met Bob."}', headers)
    assert code == status, answer
    assert ("error" in answer) == (status != 200)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", {"127.0.0.1:80", "localhost:80", "[::1]:80"}),
        ("::1", {"127.0.0.1:80", "localhost:80", "[::1]:80"}),
        ("0.0.0.0", None),
    ],
)
def test_a_loopback_server_answers_its_own_names_only(host, expected):
    assert allowed_hosts(host, 80) == (None if expected is None else frozenset(expected))


def test_a_busy_port_is_one_line_naming_it(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "rnntag", "serve", "-m", "ner", "--port", str(port)],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=TIMEOUT,
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"rnntag: error: cannot listen on 127.0.0.1 port {port}: Address already in use"
    ]


def test_a_half_sent_request_is_closed_and_idle_sockets_do_not_block_others(server):  # noqa: F811
    from rnntag.serving.app import HEADER_SECONDS

    idle = [socket.create_connection((server.host, server.port), TIMEOUT) for _ in range(20)]
    half = socket.create_connection((server.host, server.port), TIMEOUT)
    try:
        half.sendall(b"POST /tag HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl")
        # The others are answered meanwhile.
        status, answer = server.ask("GET", "/health")
        assert status == 200 and answer["status"] == "ok"
        half.settimeout(HEADER_SECONDS + 10)
        assert half.recv(1024) == b""  # closed by the server, not by this test's timeout
    finally:
        for connection in [half, *idle]:
            connection.close()


def test_careless_clients_leave_a_quiet_log():
    process = subprocess.Popen(
        [sys.executable, "-m", "rnntag", "serve", "-m", "ner", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert " on http://127.0.0.1:" in line, line
        port = int(line.rsplit(":", 1)[1].strip(" /\n"))
        body = json.dumps({"text": "Ada met Bob in Oslo. " * 500}).encode()
        head = "POST /tag HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n"
        for length in (len(body), len(body) + 1000):  # abandoned after, and during, the upload
            with socket.create_connection(("127.0.0.1", port), TIMEOUT) as client:
                client.sendall(
                    (head.format(port) + f"Content-Length: {length}\r\n\r\n").encode() + body
                )
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        connection.request(
            "POST", "/tag", b'{"text": "Ada."}', {"Content-Type": "application/json"}
        )
        assert connection.getresponse().status == 200
        connection.close()
    finally:
        process.terminate()
        _, err = process.communicate(timeout=TIMEOUT)
    assert "Traceback" not in err and "ClientDisconnect" not in err, err
