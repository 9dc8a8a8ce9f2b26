"""The HTTP side of `rnntag serve`: Starlette routes over a `TaggingService`, run by uvicorn.

Every answer is JSON but the page; an error is `{"error": "one line"}` with its status, and
never a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
from collections.abc import AsyncIterator, Callable, Mapping

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from rnntag.errors import RnntagError
from rnntag.io.schemes import split_tag
from rnntag.serving.page import page
from rnntag.serving.service import MAX_BODY_BYTES, Batcher, Busy, RequestError, TaggingService
from rnntag.serving.service import Request as Job
from rnntag.version import __version__

# Seconds a stopping server gives the requests in flight before it drops them.
SHUTDOWN_GRACE = 30
# Seconds a client may take to send a body, and connections served at once (more are
# answered 503 at once): slow or idle clients cannot hold the server's sockets.
BODY_SECONDS = 10
MAX_CONNECTIONS = 64
# Seconds a connection may take to send a request's headers, from its start or from the
# end of its last answer: an idle or half-sent request does not hold a socket for long.
HEADER_SECONDS = 10


class _HeaderDeadline(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing a connection whose request headers have not all
    come within `HEADER_SECONDS` (uvicorn times only idle keep-alive connections)."""

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline = self.loop.call_later(HEADER_SECONDS, self._expire)

    def data_received(self, data: bytes) -> None:
        between = self.cycle is None or self.cycle.response_complete
        if between and self._deadline is None:
            self._deadline = self.loop.call_later(HEADER_SECONDS, self._expire)
        super().data_received(data)
        headers_in = self.cycle is not None and not self.cycle.response_complete
        if self._deadline is not None and headers_in:
            self._deadline.cancel()
            self._deadline = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)

    def _expire(self) -> None:
        self._deadline = None
        if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
            self.transport.close()


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status, headers)


async def _body(request: Request) -> bytes:
    """The body, read no further than just past the limit, within `BODY_SECONDS`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise RequestError(413, f"the body is over {MAX_BODY_BYTES:,} bytes")
    body = bytearray()
    try:
        async with asyncio.timeout(BODY_SECONDS):
            async for piece in request.stream():
                body += piece
                if len(body) > MAX_BODY_BYTES:
                    raise RequestError(413, f"the body is over {MAX_BODY_BYTES:,} bytes")
    except TimeoutError:
        raise RequestError(408, f"the body took over {BODY_SECONDS} s to arrive") from None
    except ClientDisconnect:
        raise RequestError(400, "the client went away during the upload") from None
    return bytes(body)


def _refused(request: Request, hosts: frozenset[str] | None) -> Response | None:
    """The answer to a request `/tag` must not take: a body that does not say it is JSON
    (a cross-site form can send text/plain without asking), or, on a loopback address, a Host
    header naming another (a DNS rebinding page)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        return _error(415, "send the body as Content-Type: application/json")
    if hosts is not None and request.headers.get("host", "").lower() not in hosts:
        return _error(421, "the Host header does not name this server")
    return None


async def _gone(request: Request) -> None:
    """Return once the client has closed its connection."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _answer(request: Request, batcher: Batcher, job: Job) -> Response:
    """Tag a checked request in the next batch, unless its client goes away first."""
    tagged = asyncio.ensure_future(batcher.submit(job))
    gone = asyncio.ensure_future(_gone(request))
    stopping = _error(503, "the server is stopping", {"Retry-After": "1"})
    try:
        await asyncio.wait({tagged, gone}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        # The grace for stopping ran out with this request still waiting.
        tagged.cancel()
        return stopping
    finally:
        gone.cancel()
    if not tagged.done():
        # The client went away: its work is dropped from the queue, and no one listens.
        tagged.cancel()
        return _error(400, "the client went away")
    try:
        sentences = tagged.result()
    except Busy:
        return _error(503, "too many requests are waiting; try again", {"Retry-After": "1"})
    except asyncio.CancelledError:
        return stopping
    except Exception as exc:  # one line to the client, never a traceback
        return _error(500, f"tagging failed: {type(exc).__name__}: {exc}")
    return JSONResponse({"sentences": sentences})


def create_app(
    service: TaggingService, batcher: Batcher | None = None, hosts: frozenset[str] | None = None
) -> Starlette:
    """The application: `POST /tag`, `GET /models`, `GET /health` and the page at `GET /`.

    Args:
        service: The loaded models.
        batcher: What gathers requests into batches; by default one with its defaults.
        hosts: The Host headers `/tag` accepts (see `allowed_hosts`); any when None.

    Returns:
        The ASGI application.
    """
    batcher = batcher or Batcher(service)
    types = sorted(
        {split_tag(label)[1] for t in service.taggers.values() if t.spans for label in t.labels}
        - {""}
    )
    html = page(service.names, types)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(batcher.run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def tag(request: Request) -> Response:
        refused = _refused(request, hosts)
        if refused is not None:
            return refused
        try:
            job = service.parse(await _body(request))
        except RequestError as exc:
            return _error(exc.status, exc.message)
        return await _answer(request, batcher, job)

    async def models(request: Request) -> Response:
        return JSONResponse({"rnntag_version": __version__, "models": service.describe()})

    async def health(request: Request) -> Response:
        counts = {"requests": batcher.requests, "batches": batcher.batches}
        return JSONResponse({"status": "ok", **counts, "waiting": batcher.waiting})

    async def home(request: Request) -> Response:
        return HTMLResponse(html)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _error(exc.status_code, exc.detail, exc.headers)

    return Starlette(
        routes=[
            Route("/", home, methods=["GET"]),
            Route("/tag", tag, methods=["POST"]),
            Route("/models", models, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )


def serve(service: TaggingService, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """Serve `service` until SIGINT or SIGTERM, which let the requests in flight finish first.

    Args:
        service: The loaded models.
        host: Address to listen on.
        port: Port; 0 for a free one.
        on_ready: Called with the server's URL once it listens.
    """
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        listener = socket.create_server((host, port), family=family)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise RnntagError(f"cannot listen on {host} port {port}: {reason}") from None
    bound_host, bound_port = listener.getsockname()[:2]
    app = create_app(service, hosts=allowed_hosts(bound_host, bound_port))
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
        limit_concurrency=MAX_CONNECTIONS,
        http=_HeaderDeadline,
    )
    shown = f"[{bound_host}]" if family == socket.AF_INET6 else bound_host
    on_ready(f"http://{shown}:{bound_port}/")
    uvicorn.Server(config).run(sockets=[listener])


def allowed_hosts(host: str, port: int) -> frozenset[str] | None:
    """The Host headers a server on `host`:`port` answers `/tag` for: on a loopback address
    its own names alone (a web page that rebinds its name to 127.0.0.1 sends its own), and
    any on an address open to the network, which the user chose to open.

    Args:
        host: The address listened on.
        port: The port listened on (the one chosen, for port 0).

    Returns:
        The accepted `host:port` values, lower-cased, or None for any.
    """
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        return None
    names = {"localhost", "127.0.0.1", "[::1]", f"[{host}]" if ":" in host else host}
    return frozenset(f"{name}:{port}" for name in names)
