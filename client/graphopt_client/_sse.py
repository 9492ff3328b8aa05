"""A decoder for ``text/event-stream`` bodies (the WHATWG server-sent events format).

Fields ``id``, ``event``, ``data`` (joined with newlines over several lines) and ``retry``;
comment lines (``:``, used as keep-alives) are ignored; a blank line dispatches an event.
An event without data is not dispatched, as the specification says.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched event; ``event`` defaults to ``"message"``."""

    event: str
    data: str
    id: str | None
    retry_ms: int | None


@dataclass
class SSEDecoder:
    """Feed it lines (without their line ending); it returns an event on each dispatch."""

    _event: str = ""
    _data: list[str] = field(default_factory=list)
    _id: str | None = None
    _retry_ms: int | None = None
    last_event_id: str | None = None

    def decode(self, line: str) -> ServerSentEvent | None:
        """Process one line; the completed event when ``line`` is blank, else None."""
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self._retry_ms = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        if self._id is not None:
            self.last_event_id = self._id
        event = None
        if self._data:
            event = ServerSentEvent(
                event=self._event or "message",
                data="\n".join(self._data),
                id=self.last_event_id,
                retry_ms=self._retry_ms,
            )
        self._event, self._data, self._id, self._retry_ms = "", [], None, None
        return event


def iter_sse(lines: Iterator[str]) -> Iterator[ServerSentEvent]:
    """The events of a stream of lines (a trailing event without a blank line is dropped)."""
    decoder = SSEDecoder()
    for line in lines:
        event = decoder.decode(line.rstrip("\r\n"))
        if event is not None:
            yield event


async def aiter_sse(lines: AsyncIterator[str]) -> AsyncIterator[ServerSentEvent]:
    """The async twin of :func:`iter_sse`."""
    decoder = SSEDecoder()
    async for line in lines:
        event = decoder.decode(line.rstrip("\r\n"))
        if event is not None:
            yield event
