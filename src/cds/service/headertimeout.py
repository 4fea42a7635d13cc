"""A bound on how long a client may take to send a request's headers (uvicorn has none).

uvicorn closes an idle keep-alive connection after ``timeout_keep_alive``, but a
connection that sends its request line and headers slowly (or a few bytes and
then nothing) is held for as long as the client likes: a few hundred such
connections tie up a worker's file descriptors and memory ("slowloris").
`HeaderTimeoutProtocol` is uvicorn's httptools protocol with one addition: from
the moment a connection opens, and again from the first byte of each next
request on a kept-alive connection, the headers must be complete within
``header_timeout_seconds``, or the connection is closed. The body, and the time
the service takes to answer, are not limited by it (``max_body_bytes`` bounds
the body).

``cds serve`` names it to uvicorn as the HTTP protocol (``http=PROTOCOL``) and
passes the timeout to every worker in the environment (`TIMEOUT_ENV`).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "PROTOCOL", "TIMEOUT_ENV", "HeaderTimeoutProtocol"]

#: The uvicorn ``http`` setting that selects this protocol.
PROTOCOL = "cds.service.headertimeout:HeaderTimeoutProtocol"
#: Names the timeout to the workers (set by ``cds serve`` from ``header_timeout_seconds``).
TIMEOUT_ENV = "CDS_HEADER_TIMEOUT_SECONDS"
DEFAULT_TIMEOUT_SECONDS = 10.0


def _timeout_seconds() -> float:
    try:
        return float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_SECONDS))
    except ValueError:
        return DEFAULT_TIMEOUT_SECONDS


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools HTTP/1.1 protocol, closing connections whose headers do not arrive in time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout = _timeout_seconds()
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and (self.cycle is None or self.cycle.response_complete):
            self._arm_header_timer()  # the first bytes of the next request on a kept-alive connection
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self._header_timeout, self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()
