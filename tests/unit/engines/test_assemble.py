"""Putting whole answers together from streams: the parts the default model never sends
(tool calls, reasoning, several choices, Anthropic tool input), in the delta formats the
OpenAI and Anthropic API references document. tests/integration/test_whole_answers.py
compares text answers with llama-server's own non-streamed ones."""

from __future__ import annotations

from typing import Any

import pytest

from serving.assemble import (
    Assembler,
    ChatAssembler,
    CompletionAssembler,
    IncompleteStream,
    MessagesAssembler,
    ResponsesAssembler,
)


def assemble(assembler: Assembler, events: list[dict[str, Any]]) -> dict[str, Any]:
    for event in events:
        assembler.add(event)
    return assembler.answer()


def chunk(choices: list[dict[str, Any]], **top: Any) -> dict[str, Any]:
    return {"id": "c1", "object": "chat.completion.chunk", "model": "m", **top, "choices": choices}


def test_tool_call_pieces_become_whole_calls() -> None:
    events = [
        chunk([{"index": 0, "delta": {"role": "assistant", "content": None}}]),
        chunk([{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "call_a", "type": "function",
             "function": {"name": "get_weather", "arguments": ""}}]}}]),
        chunk([{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": '{"city": '}}]}}]),
        chunk([{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": '"Paris"}'}},
            {"index": 1, "id": "call_b", "type": "function",
             "function": {"name": "get_time", "arguments": "{}"}}]}}]),
        chunk([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]),
        chunk([], usage={"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}),
    ]  # fmt: skip
    answer = assemble(ChatAssembler(), events)
    (choice,) = answer["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_a", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
            {"id": "call_b", "type": "function",
             "function": {"name": "get_time", "arguments": "{}"}},
        ],
    }  # fmt: skip
    assert answer["object"] == "chat.completion" and answer["usage"]["total_tokens"] == 21


def test_reasoning_and_choices_are_kept_apart() -> None:
    events = [
        chunk([{"index": 1, "delta": {"reasoning_content": "Think"}},
               {"index": 0, "delta": {"content": "A"}}]),
        chunk([{"index": 1, "delta": {"reasoning_content": "ing.", "content": "B"}},
               {"index": 0, "delta": {"content": "a"}, "finish_reason": "stop"}]),
        chunk([{"index": 1, "delta": {}, "finish_reason": "length"}]),
    ]  # fmt: skip
    first, second = assemble(ChatAssembler(), events)["choices"]
    assert first == {
        "index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Aa"},
    }  # fmt: skip
    assert second["message"] == {
        "role": "assistant", "reasoning_content": "Thinking.", "content": "B",
    }  # fmt: skip
    assert second["finish_reason"] == "length"


def test_completion_text_and_logprobs_are_joined() -> None:
    def piece(text: str, finish: str | None = None) -> dict[str, Any]:
        logprobs = {"tokens": [text], "token_logprobs": [-0.5]}
        return chunk([{"index": 0, "text": text, "logprobs": logprobs, "finish_reason": finish}])

    answer = assemble(CompletionAssembler(), [piece("Once"), piece(" upon", "length")])
    (choice,) = answer["choices"]
    assert choice["text"] == "Once upon" and choice["finish_reason"] == "length"
    assert choice["logprobs"] == {"tokens": ["Once", " upon"], "token_logprobs": [-0.5, -0.5]}
    assert answer["object"] == "text_completion"


def test_anthropic_tool_input_and_thinking_blocks() -> None:
    events = [
        {"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "content": [],
            "model": "m", "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 20, "output_tokens": 0}}},
        {"type": "content_block_start", "index": 0,
         "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "thinking_delta", "thinking": "Weather: use the tool."}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "signature_delta", "signature": "sig"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1,
         "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                           "input": {}}},
        {"type": "content_block_delta", "index": 1,
         "delta": {"type": "input_json_delta", "partial_json": '{"city": "Pa'}},
        {"type": "content_block_delta", "index": 1,
         "delta": {"type": "input_json_delta", "partial_json": 'ris"}'}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
         "usage": {"output_tokens": 15}},
        {"type": "message_stop"},
    ]  # fmt: skip
    message = assemble(MessagesAssembler(), events)
    assert message["content"] == [
        {"type": "thinking", "thinking": "Weather: use the tool.", "signature": "sig"},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
    ]
    assert message["stop_reason"] == "tool_use"
    assert message["usage"] == {"input_tokens": 20, "output_tokens": 15}


def test_the_final_response_event_is_the_answer() -> None:
    done = {"id": "resp_1", "object": "response", "status": "completed", "output": []}
    events = [{"type": "response.created", "response": {**done, "status": "in_progress"}},
              {"type": "response.completed", "response": done}]  # fmt: skip
    answer = assemble(ResponsesAssembler(), events)
    assert answer["status"] == "completed" and isinstance(answer["completed_at"], int)


@pytest.mark.parametrize(
    ("assembler", "events"),
    [
        (ChatAssembler, [chunk([{"index": 0, "delta": {"content": "Hal"}}])]),
        (ChatAssembler, []),
        (CompletionAssembler, [chunk([{"index": 0, "text": "Hal", "finish_reason": None}])]),
        (MessagesAssembler, [{"type": "message_start", "message": {"content": []}}]),
        (ResponsesAssembler, [{"type": "response.created", "response": {}}]),
    ],
    ids=["chat-unfinished", "chat-empty", "completion", "messages", "responses"],
)
def test_a_stream_cut_short_is_not_an_answer(
    assembler: type[Assembler], events: list[dict[str, Any]]
) -> None:
    with pytest.raises(IncompleteStream):
        assemble(assembler(), events)
