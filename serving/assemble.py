"""Whole answers put together from an engine's stream, in each API's non-streamed shape.

Why (LaunchSpec.whole_answers_streamed): llama-server notices that the client of a
non-streamed request has gone only once a second passes with no result for any of its
tasks, and keeps generating until then (docs/reliability.md measured 1.2 to 3.8 s). Asked
for a stream, it notices at its next write. So the gateway asks llama-server for a
stream, reads it to the end, and answers the client with what the engine would have
sent whole; a client that leaves closes the stream and frees the slot at once.

Each assembler takes the stream's events (parsed JSON) in order and returns the answer.
What the stream and the whole answer both carry (ids, model, usage, timings, logprobs,
tool calls) is kept; tests/integration/test_whole_answers.py compares every API against
the engine's own non-streamed answer.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

Json = dict[str, Any]


class IncompleteStream(ValueError):
    """The stream ended before the answer did (no finish or stop reason)."""


class Assembler:
    """Collects one stream; `answer()` is the whole response body, or IncompleteStream."""

    def add(self, event: Json) -> None:
        raise NotImplementedError

    def answer(self) -> Json:
        raise NotImplementedError


def _finished(choices: dict[int, Json]) -> list[Json]:
    """The choices in order, each with its finish reason, else IncompleteStream."""
    if not choices or any(c.get("finish_reason") is None for c in choices.values()):
        raise IncompleteStream("the stream ended before every choice had finished")
    return [choices[i] for i in sorted(choices)]


class _ChoicesAssembler(Assembler):
    """OpenAI chunks: top-level fields (the last one wins) and choices merged by index."""

    def __init__(self) -> None:
        self.top: Json = {}
        self.choices: dict[int, Json] = {}

    def add(self, event: Json) -> None:
        for key, value in event.items():
            if key != "choices":
                self.top[key] = value
        for choice in event.get("choices") or ():
            index = int(choice.get("index", 0))
            whole = self.choices.setdefault(index, self._new_choice(index))
            if choice.get("finish_reason") is not None:
                whole["finish_reason"] = choice["finish_reason"]
            _merge_logprobs(whole, choice.get("logprobs"))
            self._merge_choice(whole, choice)

    def _new_choice(self, index: int) -> Json:
        raise NotImplementedError

    def _merge_choice(self, whole: Json, choice: Json) -> None:
        raise NotImplementedError


class ChatAssembler(_ChoicesAssembler):
    """OpenAI chat completion chunks into a `chat.completion`."""

    def _new_choice(self, index: int) -> Json:
        return {"finish_reason": None, "index": index, "message": {"role": "assistant"}}

    def _merge_choice(self, whole: Json, choice: Json) -> None:
        message = whole["message"]
        for key, value in (choice.get("delta") or {}).items():
            if key == "tool_calls":
                _merge_tool_calls(message, value)
            elif isinstance(value, str) and key != "role":
                message[key] = message.get(key, "") + value
            elif value is not None:
                message[key] = value

    def answer(self) -> Json:
        choices = _finished(self.choices)
        for choice in choices:
            choice["message"].setdefault("content", None)
        return {**self.top, "object": "chat.completion", "choices": choices}


class CompletionAssembler(_ChoicesAssembler):
    """Legacy completion chunks into a `text_completion`."""

    def _new_choice(self, index: int) -> Json:
        return {"text": "", "index": index, "logprobs": None, "finish_reason": None}

    def _merge_choice(self, whole: Json, choice: Json) -> None:
        whole["text"] += choice.get("text") or ""

    def answer(self) -> Json:
        return {**self.top, "object": "text_completion", "choices": _finished(self.choices)}


class MessagesAssembler(Assembler):
    """Anthropic's `message_start` … `message_stop` events into one `message`."""

    def __init__(self) -> None:
        self.message: Json = {"type": "message", "role": "assistant", "content": []}
        self.blocks: dict[int, Json] = {}
        self.partial_json: dict[int, str] = {}

    def add(self, event: Json) -> None:
        kind = event.get("type")
        if kind == "message_start":
            self.message = copy.deepcopy(event.get("message") or self.message)
        elif kind == "content_block_start":
            self.blocks[int(event["index"])] = dict(event.get("content_block") or {})
        elif kind == "content_block_delta":
            self._delta(int(event["index"]), event.get("delta") or {})
        elif kind == "content_block_stop":
            self._close_block(int(event["index"]))
        elif kind == "message_delta":
            self.message.update(event.get("delta") or {})
            self.message["usage"] = {**self.message.get("usage", {}), **event.get("usage", {})}

    def _delta(self, index: int, delta: Json) -> None:
        block = self.blocks.setdefault(index, {"type": "text", "text": ""})
        kind = delta.get("type")
        if kind == "input_json_delta":
            self.partial_json[index] = self.partial_json.get(index, "") + delta["partial_json"]
        elif kind == "signature_delta":
            block["signature"] = delta["signature"]
        else:
            for key in ("text", "thinking"):
                if key in delta:
                    block[key] = block.get(key, "") + delta[key]

    def _close_block(self, index: int) -> None:
        if index in self.partial_json:
            text = self.partial_json.pop(index)
            self.blocks[index]["input"] = json.loads(text) if text.strip() else {}

    def answer(self) -> Json:
        if self.message.get("stop_reason") is None:
            raise IncompleteStream("the stream ended before the message had a stop reason")
        for index in list(self.partial_json):
            self._close_block(index)
        content = [self.blocks[i] for i in sorted(self.blocks)]
        return {**self.message, "content": content}


class ResponsesAssembler(Assembler):
    """The Responses API's stream ends with the whole response in its last event
    (`response.completed`, or `.incomplete` / `.failed`). llama-server leaves out of it
    only `completed_at`, the Unix second the answer was done: taken here when that event
    arrives."""

    FINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})

    def __init__(self) -> None:
        self.response: Json | None = None

    def add(self, event: Json) -> None:
        if event.get("type") in self.FINAL and isinstance(event.get("response"), dict):
            self.response = event["response"]
            if self.response.get("status") == "completed":
                self.response.setdefault("completed_at", int(time.time()))

    def answer(self) -> Json:
        if self.response is None:
            raise IncompleteStream("the stream ended before the response was complete")
        return self.response


def _merge_logprobs(whole: Json, logprobs: Any) -> None:
    """Token logprobs arrive a few per chunk: one list in the whole answer."""
    if not isinstance(logprobs, dict):
        return
    merged = whole.get("logprobs") or {}
    for key, value in logprobs.items():
        if isinstance(value, list):
            merged[key] = [*merged.get(key, []), *value]
        else:
            merged[key] = value
    whole["logprobs"] = merged


def _merge_tool_calls(message: Json, deltas: Any) -> None:
    """Tool-call deltas carry their position in `index`; the name and arguments arrive in
    pieces, the id and type once."""
    calls: list[Json] = message.setdefault("tool_calls", [])
    for delta in deltas or ():
        index = int(delta.get("index", len(calls)))
        while len(calls) <= index:
            calls.append({"type": "function", "function": {"name": "", "arguments": ""}})
        call = calls[index]
        for key, value in delta.items():
            if key == "function":
                for part, text in (value or {}).items():
                    if isinstance(text, str):
                        call["function"][part] = call["function"].get(part, "") + text
            elif key != "index" and value is not None:
                call[key] = value
