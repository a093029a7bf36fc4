"""Everything one running server holds, built in one place and closed in one place."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bench import RequestRecorder, Store
from bench.live import LiveMetrics
from engines.launching import Launcher
from engines.pool import ModelPool
from engines.server.auth import ensure_token
from engines.server.gateway import Gateway
from engines.server.prometheus import ServerMetrics
from engines.server.upstream import Upstream
from engines.supervisor import EngineEvent, Supervisor, event_row
from hardware import Sampler
from profiles import Locations, Settings

log = logging.getLogger("hostbench.server")


@dataclass
class ServerState:
    settings: Settings
    locations: Locations
    store: Store
    recorder: RequestRecorder
    supervisor: Supervisor
    upstream: Upstream
    gateway: Gateway
    launcher: Launcher
    sampler: Sampler
    control_token: str
    live: LiveMetrics
    metrics: ServerMetrics
    pool: ModelPool

    @classmethod
    def build(cls, settings: Settings, locations: Locations) -> ServerState:
        locations.ensure()
        store = Store(locations.store_path)
        live = LiveMetrics()
        metrics = ServerMetrics(live)
        recorder = RequestRecorder(store, listeners=(live.observe, metrics.observe))

        def on_event(event: EngineEvent) -> None:
            level = logging.WARNING if event.kind in ("crashed", "restart_failed") else logging.INFO
            log.log(
                level,
                "engine %s: %s%s",
                event.engine,
                event.kind,
                f" (exit {event.exit_code})" if event.exit_code is not None else "",
            )
            store.add_engine_event(event_row(event))

        supervisor = Supervisor(settings.engines, locations.logs_dir / "engines", on_event)
        upstream = Upstream()
        launcher = Launcher(settings, locations, store)
        pool = ModelPool(supervisor, launcher, settings.pool)
        return cls(
            settings=settings,
            locations=locations,
            store=store,
            recorder=recorder,
            supervisor=supervisor,
            upstream=upstream,
            gateway=Gateway(supervisor, upstream, recorder, pool),
            launcher=launcher,
            sampler=Sampler(pids=supervisor.pids, model_dir=locations.models_dir),
            control_token=ensure_token(locations.token_file),
            live=live,
            metrics=metrics,
            pool=pool,
        )

    def start(self) -> None:
        self.sampler.start()
        self.pool.start()

    async def close(self) -> None:
        self.sampler.stop()
        await self.pool.close()
        await self.supervisor.stop_all()
        await self.upstream.close()
        self.recorder.close()
        self.store.close()
