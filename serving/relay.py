"""A streamed answer written straight to the ASGI server.

Starlette's StreamingResponse watches for the client leaving through an anyio task group
per response (a second task, cancel scopes, and a task repr built on every cancellation).
On the token path that machinery cost more CPU than the relay itself, and CPU the gateway
spends is time the engine waits for on a machine whose cores it shares. This response does
the same job with one plain asyncio task: when the client goes away the response's own
task is cancelled, the relay is closed (which closes the engine's connection, and the
engine stops generating for nobody), and the cancellation ends there.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

STREAM_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class RelayResponse(Response):
    """A response streaming `relay`'s chunks; `on_close` runs once it is over, however it
    ended (the pool's slot for the request is free then). A Response only so that routes
    return it as it is; Response's own body handling is not used."""

    def __init__(self, relay: AsyncGenerator[bytes, None], *, on_close: Callable[[], None]) -> None:
        self.status_code = 200
        self.background = None
        self.relay = relay
        self.on_close = on_close
        self.raw_headers = STREAM_HEADERS
        self.client_gone = False
        self._done = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        watcher = asyncio.get_running_loop().create_task(self._watch(receive, task))
        try:
            await self._stream(send)
        except asyncio.CancelledError:
            if not self.client_gone:
                raise
            task.uncancel()
        finally:
            self._done = True
            watcher.cancel()
            try:
                await asyncio.shield(self.relay.aclose())
            finally:
                self.on_close()

    async def _stream(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        async for chunk in self.relay:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _watch(self, receive: Receive, streaming: asyncio.Task[None]) -> None:
        """Wait for the client to leave, then stop the stream where it waits."""
        while (await receive())["type"] != "http.disconnect":
            pass
        if not self._done:
            self.client_gone = True
            streaming.cancel()
