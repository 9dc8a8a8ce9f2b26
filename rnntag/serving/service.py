"""Tagging requests for `rnntag serve`, without HTTP: a request body is checked and read as
`rnntag tag` would read the same text, requests that arrive together are tagged in one batch,
and each gets back exactly the objects `rnntag tag --output jsonl` writes."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any

from rnntag.errors import RnntagError
from rnntag.io.checks import checked_tokens
from rnntag.io.plaintext import read_text, text_lines
from rnntag.io.schemes import SCHEMES
from rnntag.io.sentence import InputSentence
from rnntag.model.device import resolve_device
from rnntag.tagging.render import Column, to_json
from rnntag.tagging.run import column_names
from rnntag.tagging.tagged import MAX_NBEST
from rnntag.tagging.tagger import Tagger

# A request's body, and the text or tokens in it: a larger job belongs to `rnntag tag`.
MAX_BODY_BYTES = 1_000_000
MAX_CHARACTERS = 100_000
MAX_TOKENS = 20_000
# The work one request may ask for: its tokens times its n-best sequences (an answer of
# some 12 MB and seconds of CPU at 20,000 x 100).
MAX_TOKENS_NBEST = 200_000
# What a lone surrogate from a JSON escape (`"\ud800"`) looks like: no character, and no
# answer could be encoded with it.
_SURROGATE = re.compile("[\ud800-\udfff]")
OPTIONS = frozenset({"text", "tokens", "models", "scores", "nbest", "scheme"})


class RequestError(Exception):
    """A request that cannot be tagged, with the HTTP status that says why.

    Args:
        status: 400 (not JSON), 413 (too large) or 422 (JSON that is no valid request).
        message: What is wrong, in one line.
    """

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class Busy(Exception):
    """The queue of waiting requests is full."""


@dataclass
class Request:
    """One checked request.

    Attributes:
        sentences: The sentences, as `rnntag tag` reads the same input.
        models: The column names of the models to tag with, in output order.
        scores: Whether to add probabilities.
        nbest: Best sequences per sentence.
        scheme: Span scheme of the span models' tags; None for the data's.
    """

    sentences: list[InputSentence]
    models: list[str]
    scores: bool = False
    nbest: int = 1
    scheme: str | None = None

    @property
    def tokens(self) -> int:
        """Its number of tokens: what a batch's size is counted in."""
        return sum(len(s.tokens) for s in self.sentences)


class TaggingService:
    """The models a server loaded at start, and tagging with them.

    Args:
        models: Model names or directories; each is asked for by its column name (the last
            part, as in `rnntag tag --output jsonl`).
        device: Where the networks run: auto, cpu or cuda.
    """

    def __init__(self, models: list[str], device: str = "auto"):
        self.names = column_names(models)
        torch_device = resolve_device(device)
        self.taggers = {
            name: Tagger.load(model, torch_device)
            for name, model in zip(self.names, models, strict=True)
        }
        # One tagger per output scheme, all sharing the loaded network.
        self._schemed: dict[tuple[str, str | None], Tagger] = {}

    def describe(self) -> list[dict[str, Any]]:
        """What `GET /models` lists: each model's name, labels, schemes and versions."""
        return [
            {
                "name": name,
                "spans": tagger.spans,
                "labels": tagger.labels,
                "scheme": tagger.output_scheme,
                "schemes": list(SCHEMES) if tagger.spans else [],
                "rnntag_version": tagger.info.rnntag_version,
                "format_version": tagger.info.format_version,
                "dev": {
                    key: tagger.info.results[key]
                    for key in ("dev_metric", "dev_score")
                    if key in tagger.info.results
                },
            }
            for name, tagger in self.taggers.items()
        ]

    def parse(self, body: bytes) -> Request:
        """Check a request body and read its text or tokens.

        Args:
            body: The raw body: a JSON object with `text` (plain text) or `tokens` (a list of
                sentences, each a list of tokens), and optionally `models` (names of loaded
                models), `scores`, `nbest` and `scheme`.

        Returns:
            The request.

        Raises:
            RequestError: The body is too large, not JSON, or not a valid request.
        """
        payload = _payload(body)
        models = self._models(payload)
        sentences = self._sentences(payload, models)
        tokens = sum(len(s.tokens) for s in sentences)
        if tokens > MAX_TOKENS:
            raise RequestError(413, f"more than {MAX_TOKENS:,} tokens")
        if any(_SURROGATE.search(t) for s in sentences for t in s.tokens):
            raise RequestError(422, "a token holds a lone surrogate, which is no character")
        scores, nbest = payload.get("scores", False), payload.get("nbest", 1)
        if not isinstance(scores, bool):
            raise RequestError(422, "'scores' must be true or false")
        if isinstance(nbest, bool) or not isinstance(nbest, int) or not 1 <= nbest <= MAX_NBEST:
            raise RequestError(422, f"'nbest' must be a whole number in 1..{MAX_NBEST}")
        self._check_nbest(models, nbest, tokens)
        scheme = payload.get("scheme")
        if scheme is not None and scheme not in SCHEMES:
            raise RequestError(422, f"'scheme' must be one of {', '.join(SCHEMES)}")
        if len(models) == 1:
            # As `rnntag tag` with one model: the tokens that model sees.
            sentences = [self.taggers[models[0]].as_seen(s) for s in sentences]
        return Request(sentences, models, scores, nbest, scheme)

    def _models(self, payload: dict[str, Any]) -> list[str]:
        """The column names of the models a request asks for: all loaded ones by default."""
        models = payload.get("models", self.names)
        if (
            not isinstance(models, list)
            or not models
            or not all(isinstance(m, str) for m in models)
        ):
            raise RequestError(422, "'models' must be a non-empty list of model names")
        for model in models:
            if model not in self.taggers:
                raise RequestError(
                    422, f"model {model!r} is not loaded; loaded: {', '.join(self.names)}"
                )
        if len(set(models)) < len(models):
            raise RequestError(422, "'models' names a model twice")
        return models

    def _check_nbest(self, models: list[str], nbest: int, tokens: int) -> None:
        """Refuse n-best sequences from a model without a CRF, or more work than one request
        may ask for."""
        if nbest == 1:
            return
        plain = [m for m in models if self.taggers[m].model.crf is None]
        if plain:
            raise RequestError(422, f"'nbest' needs a CRF decoder, which {plain[0]!r} lacks")
        if tokens * nbest > MAX_TOKENS_NBEST:
            raise RequestError(
                413, f"tokens times 'nbest' is over {MAX_TOKENS_NBEST:,}; ask for fewer"
            )

    def _sentences(self, payload: dict[str, Any], models: list[str]) -> list[InputSentence]:
        """A request's text, split as `rnntag tag` splits it for the same models, or its
        tokens."""
        if "tokens" in payload:
            return _tokens(payload["tokens"])
        known = [self.taggers[m].info for m in models]
        return _text(payload["text"], frozenset(a for info in known for a in info.abbreviations))

    def tag(self, requests: list[Request]) -> list[list[dict[str, Any]]]:
        """Tag requests together: each model runs once over the sentences of all the requests
        that ask for it with the same options.

        Args:
            requests: The requests.

        Returns:
            For each request, the JSON object of each sentence.
        """
        predicted: list[dict[str, list[Any]]] = [{} for _ in requests]
        jobs: dict[tuple[str, bool, int, str | None], list[int]] = {}
        for i, request in enumerate(requests):
            for name in request.models:
                key = (name, request.scores, request.nbest, request.scheme)
                jobs.setdefault(key, []).append(i)
        documents: dict[tuple[int, int], int] = {}
        for (name, scores, nbest, scheme), members in jobs.items():
            sentences = [
                sentence
                for i in members
                for sentence in _own_documents(requests[i].sentences, i, documents)
            ]
            predictions = self._tagger(name, scheme).predict_read(sentences, scores, nbest)
            start = 0
            for i in members:
                end = start + len(requests[i].sentences)
                predicted[i][name] = predictions[start:end]
                start = end
        return [
            [
                to_json(
                    sentence,
                    [
                        Column(name, predicted[i][name][k], self.taggers[name].spans)
                        for name in request.models
                    ],
                )
                for k, sentence in enumerate(request.sentences)
            ]
            for i, request in enumerate(requests)
        ]

    def _tagger(self, name: str, scheme: str | None) -> Tagger:
        base = self.taggers[name]
        if scheme is None or not base.spans:
            return base
        if (name, scheme) not in self._schemed:
            self._schemed[name, scheme] = Tagger(base.info, base.model, scheme)
        return self._schemed[name, scheme]


def _text(text: Any, abbreviations: frozenset[str]) -> list[InputSentence]:
    if not isinstance(text, str):
        raise RequestError(422, "'text' must be a string")
    if len(text) > MAX_CHARACTERS:
        raise RequestError(413, f"the text is over {MAX_CHARACTERS:,} characters")
    try:
        return list(read_text(text_lines(text), "text", abbreviations=abbreviations))
    except RnntagError as exc:
        raise RequestError(422, str(exc)) from None


def _tokens(sentences: Any) -> list[InputSentence]:
    """Sentences given as tokens, read as `rnntag tag --input tokens` reads a line each, and
    checked as `Tagger.tag_tokens` checks them."""
    try:
        checked = checked_tokens(sentences)
    except (TypeError, ValueError) as exc:
        raise RequestError(422, f"'tokens': {exc}") from None
    return [InputSentence(tokens, None, number) for number, tokens in enumerate(checked, 1)]


def _own_documents(
    sentences: list[InputSentence], request: int, numbers: dict[tuple[int, int], int]
) -> list[InputSentence]:
    """The sentences with document numbers of their own (from `numbers`, which it extends),
    so that a document memory never joins the documents of two requests; each request's
    text is a document, cut into blocks as `read_text` cuts `rnntag tag`'s input."""
    return [
        sentence
        if sentence.document is None
        else dataclasses.replace(
            sentence, document=numbers.setdefault((request, sentence.document), len(numbers))
        )
        for sentence in sentences
    ]


class Batcher:
    """Gathers the requests that arrive within a few milliseconds and tags them together in a
    thread, so the server goes on taking requests meanwhile. Start `run` as a task.

    Args:
        service: What tags.
        wait: Seconds to wait for more requests once one has come.
        batch_tokens: Tokens after which a batch takes no more requests.
        queue_size: Requests that may wait; `submit` refuses more.
    """

    def __init__(
        self,
        service: TaggingService,
        wait: float = 0.002,
        batch_tokens: int = 4096,
        queue_size: int = 256,
    ):
        self.service = service
        self.wait = wait
        self.batch_tokens = batch_tokens
        self._queue: asyncio.Queue[tuple[Request, asyncio.Future[Any]]] = asyncio.Queue(queue_size)
        self.requests = 0
        """Requests taken so far."""
        self.batches = 0
        """Batches tagged (or failed) so far."""

    @property
    def waiting(self) -> int:
        """Requests in the queue now."""
        return self._queue.qsize()

    async def submit(self, request: Request) -> list[dict[str, Any]]:
        """Tag one request in the next batch.

        Raises:
            Busy: The queue is full.
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((request, future))
        except asyncio.QueueFull:
            raise Busy from None
        self.requests += 1
        result: list[dict[str, Any]] = await future
        return result

    async def run(self) -> None:
        """Tag batches until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            tokens = batch[0][0].tokens
            deadline = loop.time() + self.wait
            while tokens < self.batch_tokens:
                try:
                    item = await asyncio.wait_for(self._queue.get(), deadline - loop.time())
                except TimeoutError:
                    break
                batch.append(item)
                tokens += item[0].tokens
            self.batches += 1
            # A client that went away cancelled its future: its work is dropped.
            batch = [(request, future) for request, future in batch if not future.done()]
            if batch:
                await self._tag(batch)

    async def _tag(self, batch: list[tuple[Request, asyncio.Future[Any]]]) -> None:
        """Tag a batch; if it fails, each request alone, so that a failure reaches only the
        request that caused it."""
        try:
            results = await asyncio.to_thread(self.service.tag, [r for r, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exception=exc)
                return
            for item in batch:
                await self._tag([item])
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result)


def _settle(
    future: asyncio.Future[Any], result: Any = None, exception: Exception | None = None
) -> None:
    """Give a waiting request its answer, unless its client has gone."""
    if future.done():
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)


def _payload(body: bytes) -> dict[str, Any]:
    """A request body as a JSON object of known fields with either text or tokens."""
    if len(body) > MAX_BODY_BYTES:
        raise RequestError(413, f"the body is over {MAX_BODY_BYTES:,} bytes")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(400, f"the body is not JSON ({exc})") from None
    except (ValueError, RecursionError):
        # Nesting too deep for the parser, or an integer of thousands of digits.
        raise RequestError(
            400, "the body is JSON nested too deep or with too long a number"
        ) from None
    if not isinstance(payload, dict):
        raise RequestError(422, "the body must be a JSON object")
    unknown = sorted(set(payload) - OPTIONS)
    if unknown:
        raise RequestError(
            422, f"unknown field {unknown[0]!r}; known: {', '.join(sorted(OPTIONS))}"
        )
    if ("text" in payload) == ("tokens" in payload):
        raise RequestError(422, "give either 'text' or 'tokens'")
    return payload
