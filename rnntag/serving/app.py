"""The HTTP side of `rnntag serve`: Starlette routes over a `TaggingService`, run by uvicorn.

Every answer is JSON but the page; an error is `{"error": "one line"}` with its status, and
never a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from rnntag.io.schemes import split_tag
from rnntag.serving.page import page
from rnntag.serving.service import MAX_BODY_BYTES, Batcher, Busy, RequestError, TaggingService
from rnntag.version import __version__

# Seconds a stopping server gives the requests in flight before it drops them.
SHUTDOWN_GRACE = 30


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status, headers)


async def _body(request: Request) -> bytes:
    """The body, read no further than just past the limit."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise RequestError(413, f"the body is over {MAX_BODY_BYTES:,} bytes")
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > MAX_BODY_BYTES:
            raise RequestError(413, f"the body is over {MAX_BODY_BYTES:,} bytes")
    return bytes(body)


def create_app(service: TaggingService, batcher: Batcher | None = None) -> Starlette:
    """The application: `POST /tag`, `GET /models`, `GET /health` and the page at `GET /`.

    Args:
        service: The loaded models.
        batcher: What gathers requests into batches; by default one with its defaults.

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
        try:
            job = service.parse(await _body(request))
        except RequestError as exc:
            return _error(exc.status, exc.message)
        try:
            sentences = await batcher.submit(job)
        except Busy:
            return _error(503, "too many requests are waiting; try again", {"Retry-After": "1"})
        except Exception as exc:  # one line to the client, never a traceback
            return _error(500, f"tagging failed: {type(exc).__name__}: {exc}")
        return JSONResponse({"sentences": sentences})

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


def serve(app: Any, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """Run `app` until SIGINT or SIGTERM, which let the requests in flight finish first.

    Args:
        app: The application.
        host: Address to listen on.
        port: Port; 0 for a free one.
        on_ready: Called with the server's URL once it listens.
    """
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    listener = socket.create_server((host, port), family=family)
    bound_host, bound_port = listener.getsockname()[:2]
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, timeout_graceful_shutdown=SHUTDOWN_GRACE
    )
    shown = f"[{bound_host}]" if family == socket.AF_INET6 else bound_host
    on_ready(f"http://{shown}:{bound_port}/")
    uvicorn.Server(config).run(sockets=[listener])
