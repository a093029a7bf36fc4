"""How long an engine may idle before it is unloaded (offered on demand) or put to sleep
(launched with `--idle-ttl`); 0 means never."""

from __future__ import annotations

from collections.abc import Iterable

from engines.supervisor import ManagedEngine
from profiles import PoolSettings


def sleeps(engine: ManagedEngine) -> bool:
    """Launched by a user with an idle TTL: it sleeps when idle instead of running on."""
    return not engine.request.on_demand and bool(engine.request.idle_ttl_s)


def idle_ttl(engine: ManagedEngine, settings: PoolSettings) -> float:
    """The engine's own TTL: its launch's, else its offer's, else the pool's."""
    if not engine.request.on_demand:
        return engine.request.idle_ttl_s or 0.0
    offer = next((o for o in settings.models if engine.name in (o.name, *o.aliases)), None)
    if offer is not None and offer.idle_ttl_s is not None:
        return offer.idle_ttl_s
    return settings.idle_ttl_s


def every_ttl(settings: PoolSettings, engines: Iterable[ManagedEngine]) -> list[float]:
    """Every TTL in force (the reaper wakes at a quarter of the shortest)."""
    ttls = [o.idle_ttl_s for o in settings.models if o.idle_ttl_s]
    ttls += [settings.idle_ttl_s] if settings.idle_ttl_s else []
    return ttls + [idle_ttl(e, settings) for e in engines if sleeps(e)]
