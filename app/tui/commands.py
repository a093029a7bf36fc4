"""Command palette entries for models: `pull qwen3-8b`, `fit gemma-3-4b-it`, `launch ...`,
one per catalog model, so a model is reachable by typing part of its name."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

VERBS = (
    ("Pull", "models", "start_pull", "download it (Models screen), with progress"),
    ("Launch", "engines", "launch_model", "launch it through the form (Engines screen)"),
)


class ModelCommands(Provider):
    """`Pull ID` and `Launch ID` for every catalog model."""

    async def startup(self) -> None:
        from catalog import load_catalog

        catalog = await asyncio.to_thread(load_catalog)
        self.ids = sorted(catalog.entries)

    def _commands(self) -> list[tuple[str, Callable[[], Awaitable[None]], str]]:
        found: list[tuple[str, Callable[[], Awaitable[None]], str]] = []
        for verb, mode, method, help_text in VERBS:
            for model in self.ids:
                action = partial(self._run, mode, method, model)
                found.append((f"{verb} {model}", action, help_text))
        return found

    async def _run(self, mode: str, method: str, model: str) -> None:
        app: Any = self.app
        await app.switch_mode(mode)
        getattr(app.screen, method)(model)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, action, help_text in self._commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), action, text, help_text)

    async def discover(self) -> Hits:
        for text, action, help_text in self._commands()[:6]:
            yield DiscoveryHit(text, action, help=help_text)
