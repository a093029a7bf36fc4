"""Everything one running server holds, built in one place and closed in one place."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bench import RequestRecorder
from bench.live import LiveMetrics
from control.channel import engine_key
from engines.http_client import EngineClient
from engines.runfiles import RunFiles
from engines.supervisor import EngineEvent, Supervisor, event_record
from hardware import Sampler
from profiles import Locations, Settings
from serving.control_auth import ControlToken
from serving.gateway import Gateway
from serving.pool import ModelPool
from serving.prometheus import ServerMetrics
from storage import Store
from workflows.launching import Launcher

log = logging.getLogger("hostbench.server")


@dataclass
class ServerState:
    settings: Settings
    locations: Locations
    store: Store
    recorder: RequestRecorder
    supervisor: Supervisor
    upstream: EngineClient
    gateway: Gateway
    launcher: Launcher
    sampler: Sampler
    control_token: ControlToken
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
            recorder.submit_event(event_record(event))  # on the writer thread, never the loop

        run_files = RunFiles(locations.data_dir / "run" / "engines")
        control_token = ControlToken.load(locations.token_file)
        supervisor = Supervisor(
            settings.engines,
            locations.logs_dir / "engines",
            on_event,
            run_files,
            access_key=lambda: engine_key(control_token.current()),
        )
        upstream = EngineClient()
        launcher = Launcher(settings, locations, store)
        pool = ModelPool(supervisor, launcher, settings.pool)
        return cls(
            settings=settings,
            locations=locations,
            store=store,
            recorder=recorder,
            supervisor=supervisor,
            upstream=upstream,
            gateway=Gateway(supervisor, upstream, recorder, pool, settings.server.max_json_depth),
            launcher=launcher,
            sampler=Sampler(pids=supervisor.pids, model_dir=locations.models_dir),
            control_token=control_token,
            live=live,
            metrics=metrics,
            pool=pool,
        )

    def start(self) -> None:
        reaped = self.supervisor.run_files.reap() if self.supervisor.run_files else []
        if reaped:
            log.warning("stopped engine(s) %s left running by a server that died", reaped)
        self.sampler.start()
        self.pool.start()

    async def close(self) -> None:
        self.sampler.stop()
        await self.pool.close()
        await self.supervisor.stop_all()
        await self.upstream.close()
        self.recorder.close()
        self.store.close()
