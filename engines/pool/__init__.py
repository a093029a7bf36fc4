"""Many models behind one endpoint: on-demand loading within a memory budget, LRU eviction,
idle unloading, and a per-model concurrency limit with a bounded queue."""

from engines.pool.errors import (
    ModelNotServedError,
    OverBudgetError,
    PoolBusyError,
    PoolError,
    QueueFullError,
)
from engines.pool.pool import Lease, ModelPool
from engines.pool.slots import SlotQueue

__all__ = [
    "Lease",
    "ModelNotServedError",
    "ModelPool",
    "OverBudgetError",
    "PoolBusyError",
    "PoolError",
    "QueueFullError",
    "SlotQueue",
]
