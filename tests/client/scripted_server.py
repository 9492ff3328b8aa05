"""A real HTTP server (uvicorn in a thread) that answers from a script, for retry and
error-path tests: each route replies with its scripted answers in order (the last one
repeats) and every request is recorded."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send


@dataclass
class Reply:
    """One scripted answer: JSON ``body``, or ``chunks`` streamed (then the connection is
    broken when ``abort``), or a file's ``data`` (206 from a ``Range: bytes=N-`` offset);
    ``delay_s`` before answering."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] | None = None
    abort: bool = False
    data: bytes | None = None
    delay_s: float = 0.0
    media_type: str = "application/json"


@dataclass
class Seen:
    """A request as the server received it (``body_bytes``: length of the body read)."""

    method: str
    path: str
    headers: dict[str, str]
    body_bytes: int


class ScriptedApp:
    """An ASGI app answering ``(method, path)`` from its script; 404 for anything else."""

    def __init__(self) -> None:
        self.script: dict[tuple[str, str], list[Reply]] = {}
        self.seen: list[Seen] = []

    def on(self, method: str, path: str, *replies: Reply) -> None:
        self.script[(method, path)] = list(replies)

    def requests(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if (s.method, s.path) == (method, path)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        size = 0
        async for chunk in request.stream():  # counted, never kept: memory stays flat
            size += len(chunk)
        key = (request.method, request.url.path)
        self.seen.append(Seen(key[0], key[1], dict(request.headers), size))
        replies = self.script.get(key)
        if not replies:
            not_found = {"error": {"code": "not_found", "message": "no route", "detail": {}}}
            await JSONResponse(not_found, status_code=404)(scope, receive, send)
            return
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        await _response(reply, request.headers.get("range"))(scope, receive, send)


def _response(reply: Reply, range_header: str | None) -> Response:
    if reply.data is not None:
        start = int(range_header.removeprefix("bytes=").rstrip("-")) if range_header else 0
        headers = {"Content-Range": f"bytes {start}-{len(reply.data) - 1}/{len(reply.data)}"}
        return Response(
            reply.data[start:], 206 if range_header else 200, headers if start else None
        )
    if reply.chunks is None:
        return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)

    async def body() -> AsyncIterator[bytes]:
        for chunk in reply.chunks or []:
            yield chunk
            await asyncio.sleep(0)
        if reply.abort:
            raise ConnectionAbortedError("scripted break")

    return StreamingResponse(
        body(), status_code=reply.status, headers=reply.headers, media_type=reply.media_type
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(app: ScriptedApp) -> Iterator[str]:
    """Run ``app`` on a free local port; yields its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="critical")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the scripted server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(5)
