"""Measuring one configuration for real: start the engine with it (as `hostbench launch`
would, on a free loopback port), send a short fixed load at each stream count, stop it.

The engine is reached directly, not through the gateway: the tuner measures the engine's
settings, and the gateway is the same whichever settings win. The same prompts go to every
configuration, distinct within a load so no prompt cache serves one request from another.
Every answer has exactly the asked length (end of sequence banned), so tok/s compares.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bench.errors import BenchCancelled
from bench.load import Target, run_load
from bench.prompts import Prompt
from bench.stats import percentile
from engines.errors import EngineError
from engines.supervisor import LaunchRequest, ManagedEngine
from hardware import MachineSnapshot
from profiles import EngineSettings
from workflows.tuning.search import OutOfTime, Reading


@dataclass(frozen=True)
class Load:
    """The fixed load: `prompts[n]` are sent at n concurrent streams, after one warm-up."""

    warmup: Prompt
    prompts: Mapping[int, Sequence[Prompt]]
    eos_token_id: int | None = None


@dataclass
class EngineBench:
    """Measures configurations of one launch request, one engine at a time."""

    request: LaunchRequest
    snapshot: MachineSnapshot
    settings: EngineSettings
    log_dir: Path
    load: Load
    cancel: threading.Event
    phase: Callable[[str], None] = lambda _text: None
    """Told what the measurement is doing now (progress within it)."""
    access_key: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    """The measured engines' API key (engines.base.with_access_key)."""

    async def __call__(self, options: Mapping[str, Any]) -> Reading:
        adapter = self.request.adapter
        try:
            parsed = adapter.finalize(adapter.parse_options(dict(options)), self.snapshot)
        except ValidationError as error:
            return Reading({}, error=f"invalid: {error.errors()[0]['msg']}")
        engine = ManagedEngine(
            replace(self.request, options=parsed),
            self.settings,
            self.log_dir,
            lambda _e: None,
            access_key=lambda: self.access_key,
        )
        self.phase("starting the engine")
        try:
            await engine.start()
        except EngineError as error:
            return Reading({}, error=getattr(error, "summary", str(error)))
        try:
            return await self._loads(engine)
        finally:
            await engine.stop(grace_s=2.0)

    async def _loads(self, engine: ManagedEngine) -> Reading:
        target = Target(
            f"{engine.base_url}/v1",
            engine.name,
            force_length=True,
            eos_token_id=self.load.eos_token_id,
            kind="hostbench",
            api_key=self.access_key,
        )
        tok_s: dict[int, float] = {}
        ttft: dict[int, float | None] = {}
        try:
            self.phase("warm-up")
            await run_load(target, [self.load.warmup], 1, cancel=self.cancel)
            for streams, prompts in self.load.prompts.items():
                self.phase(f"{streams} stream{'s' if streams > 1 else ''}")
                result = await run_load(target, prompts, streams, cancel=self.cancel)
                failed = [s.error for s in result.samples if not s.ok]
                if failed:
                    return Reading(
                        tok_s, ttft, error=f"{len(failed)} request(s) failed: {failed[0]}"
                    )
                tokens = sum(s.output_tokens for s in result.samples)
                tok_s[streams] = tokens / result.duration_s if result.duration_s > 0 else 0.0
                ttfts = [s.ttft_ms for s in result.samples if s.ttft_ms is not None]
                ttft[streams] = percentile(ttfts, 50) if ttfts else None
        except BenchCancelled:
            raise OutOfTime from None
        return Reading(tok_s, ttft)
