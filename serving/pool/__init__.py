"""Many models behind one endpoint: on-demand loading within a memory budget, LRU eviction,
idle unloading, and a per-model concurrency limit with a bounded queue."""

from serving.pool.errors import (
    ModelNotServedError,
    OverBudgetError,
    PoolBusyError,
    PoolError,
    QueueFullError,
)
from serving.pool.pool import ModelPool
from serving.pool.slots import Lease, SlotQueue

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
