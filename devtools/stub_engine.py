"""A stand-in engine for measuring the gateway alone: an OpenAI-style server on loopback that
streams canned chat chunks at once, so what a request costs beyond it is hostbench's own path.

    python -m devtools.stub_engine PORT SERVED_NAME

Launched through the OpenAI-compatible adapter by `python -m devtools.gateway_bench`; never part
of serving. One chunk per requested token, 2 ms apart, then a usage chunk and [DONE].
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from aiohttp import web

CHUNK_GAP_S = 0.002


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def _chunk(name: str, content: str | None, finish: str | None = None) -> dict[str, Any]:
    delta = {"content": content} if content is not None else {}
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"id": "stub", "object": "chat.completion.chunk", "model": name, "choices": [choice]}


def build_app(name: str) -> web.Application:
    async def models(_: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": name, "object": "model"}]})

    async def chat(request: web.Request) -> web.StreamResponse:
        tokens = int((await request.json()).get("max_tokens") or 16)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for i in range(tokens):
            await response.write(_event(_chunk(name, f" t{i}")))
            await asyncio.sleep(CHUNK_GAP_S)
        usage = {"prompt_tokens": 8, "completion_tokens": tokens, "total_tokens": tokens + 8}
        await response.write(_event({**_chunk(name, None, "length"), "usage": usage}))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", chat)
    return app


def main(argv: list[str]) -> int:
    port, name = int(argv[0]), argv[1]
    web.run_app(build_app(name), host="127.0.0.1", port=port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
