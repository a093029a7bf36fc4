"""7 Chat: a streaming playground against the running OpenAI endpoint, with each
answer's TTFT and decode rate measured as the bench defines them."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Input, Label, Select, Static

from app.tui.chat_stream import Answer, ChatParams, ChatTurn, stream_answer
from app.tui.link import ServerView
from app.tui.present import ms, rate
from app.tui.screens.base import WorkbenchScreen


def answer_stats(answer: Answer) -> str:
    parts = [f"TTFT {ms(answer.ttft_ms)}", rate(answer.tokens_per_s), f"{answer.tokens} tokens"]
    if answer.finish_reason:
        parts.append(f"finish: {answer.finish_reason}")
    if answer.error:
        parts.append(f"error: {answer.error}")
    return " · ".join(parts)


class Bubble(Vertical):
    """One turn of the conversation; an answer also shows its timing."""

    def __init__(self, role: str, text: str = "") -> None:
        super().__init__(classes=f"bubble {role}")
        self.role = role
        self.text = text

    def compose(self) -> ComposeResult:
        yield Static(self.text, classes="bubble-text", markup=False)
        if self.role == "assistant":
            yield Label("waiting for the first token…", classes="bubble-stats")

    def show(self, answer: Answer) -> None:
        self.query_one(".bubble-text", Static).update(answer.text or "…")
        self.query_one(".bubble-stats", Label).update(answer_stats(answer))
        self.set_class(bool(answer.error), "-error")


class ChatScreen(WorkbenchScreen):
    MODE = "chat"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "new_chat", "New chat"),
        Binding("ctrl+t", "stop_answer", "Stop answer"),
        Binding("ctrl+o", "toggle_settings", "Settings"),
    ]

    @dataclass
    class AnswerGrew(Message):
        """More of the answer arrived; the message carries all of it so far."""

        answer: Answer

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, ChatScreen.AnswerGrew)

    @dataclass
    class AnswerEnded(Message):
        answer: Answer

    streaming: reactive[bool] = reactive(False)
    """An answer is streaming; a new question waits for it."""
    models: reactive[tuple[str, ...]] = reactive(())
    """Models the server serves and can answer (state ready)."""

    def __init__(self) -> None:
        super().__init__()
        self.history: list[ChatTurn] = []
        self._cancel = threading.Event()
        self._bubble: Bubble | None = None

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="chat-body"):
            with Vertical(id="chat-settings"):
                yield Label("model", classes="field-label")
                yield Select([], prompt="no model running", id="chat-model", compact=True)
                yield Label("system prompt", classes="field-label")
                yield Input("You are a helpful assistant.", id="chat-system", compact=True)
                yield Label("temperature", classes="field-label")
                yield Input("0.7", id="chat-temperature", type="number", compact=True)
                yield Label("max tokens", classes="field-label")
                yield Input("256", id="chat-max-tokens", type="integer", compact=True)
                yield Static(
                    "TTFT and tokens/s of each answer are measured here, as the bench "
                    "measures them.",
                    classes="field-why",
                )
            with Vertical(id="chat-main"):
                yield VerticalScroll(id="conversation")
                yield Input(placeholder="Ask something (enter sends)", id="prompt")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#prompt", Input).focus()

    def show_view(self, view: ServerView) -> None:
        self.models = tuple(e.name for e in view.engines if e.state == "ready")

    def watch_models(self, models: tuple[str, ...]) -> None:
        select = self.query_one("#chat-model", Select)
        current = select.value
        select.set_options([(m, m) for m in models])
        if current in models:
            select.value = current
        elif models:
            select.value = models[0]

    def params(self) -> ChatParams:
        model = self.query_one("#chat-model", Select).value
        if not isinstance(model, str):
            raise ValueError("no model is running: launch one on the Engines screen (4)")
        return ChatParams(
            model=model,
            system_prompt=self.query_one("#chat-system", Input).value,
            temperature=float(self.query_one("#chat-temperature", Input).value or 0.7),
            max_tokens=int(self.query_one("#chat-max-tokens", Input).value or 256),
        )

    @on(Input.Submitted, "#prompt")
    async def _ask(self, event: Input.Submitted) -> None:
        question = event.value.strip()
        if not question or self.streaming:
            return
        try:
            params = self.params()
        except ValueError as error:
            self.notify(str(error), severity="warning")
            return
        event.input.value = ""
        self.history.append(ChatTurn("user", question))
        conversation = self.query_one("#conversation", VerticalScroll)
        self._bubble = Bubble("assistant")
        await conversation.mount_all([Bubble("user", question), self._bubble])
        conversation.scroll_end(animate=False)
        self.streaming = True
        self._cancel.clear()
        self.ask(params, list(self.history))

    @work(thread=True, exclusive=True, exit_on_error=False, group="chat")
    def ask(self, params: ChatParams, history: list[ChatTurn]) -> None:
        """Stream one answer from the endpoint any OpenAI client would use."""
        url = self.workbench.client.base_url + "/v1"
        answer = stream_answer(
            url,
            params.body(history),
            lambda so_far: self.post_message(self.AnswerGrew(so_far)),
            cancel=self._cancel,
        )
        self.post_message(self.AnswerEnded(answer))

    @on(AnswerGrew)
    def _grew(self, message: AnswerGrew) -> None:
        if self._bubble is not None and self.streaming:
            self._bubble.show(message.answer)
            self.query_one("#conversation", VerticalScroll).scroll_end(animate=False)

    @on(AnswerEnded)
    def _ended(self, message: AnswerEnded) -> None:
        answer = message.answer
        if self._bubble is not None:
            self._bubble.show(answer)
        if answer.text:
            self.history.append(ChatTurn("assistant", answer.text))
        self.streaming = False
        self.query_one("#conversation", VerticalScroll).scroll_end(animate=False)

    def action_stop_answer(self) -> None:
        self._cancel.set()

    async def action_new_chat(self) -> None:
        self._cancel.set()
        self.history.clear()
        await self.query_one("#conversation", VerticalScroll).remove_children()
        self.query_one("#prompt", Input).focus()

    def action_toggle_settings(self) -> None:
        self.query_one("#chat-settings").toggle_class("-hidden")
