"""The background sampler: ring bounds, history, prompt stop, per-process figures.

No sleeps: the tests wait on events that the sampler's own calls set.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping

import psutil
import pytest

from hardware import GpuSnapshot, Sampler, snapshot_from_dict, snapshot_to_dict
from hardware.nvml import NvidiaBackend
from hardware.nvml_replay import RecordedNvml
from hardware.snapshots import BackendStatus
from tests.unit.hardware.conftest import NVML_FIXTURES

MiB = 1024 * 1024


def counting_clock(start: float = 1000.0) -> Iterator[float]:
    return itertools.count(start)


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    """A real second process that waits on its stdin until the test ends it."""
    process = subprocess.Popen([sys.executable, "-c", "input()"], stdin=subprocess.PIPE)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def test_ring_buffer_keeps_the_window() -> None:
    clock = counting_clock()
    sampler = Sampler(interval_s=1.0, window_s=3.0, backends=[], clock=lambda: next(clock))
    assert sampler.capacity == 3
    taken = [sampler.sample() for _ in range(5)]
    history = sampler.history()
    assert history == taken[-3:]
    assert sampler.latest() == taken[-1]
    assert [s.timestamp_s for s in history] == [1002.0, 1003.0, 1004.0]


def test_capacity_rounds_up() -> None:
    assert Sampler(interval_s=0.4, window_s=1.0, backends=[]).capacity == 3
    assert Sampler(interval_s=1.0, window_s=900.0, backends=[]).capacity == 900
    with pytest.raises(ValueError):
        Sampler(interval_s=0, backends=[])


def test_history_since_returns_only_later_snapshots() -> None:
    clock = counting_clock()
    sampler = Sampler(window_s=10, backends=[], clock=lambda: next(clock))
    first, second, third = (sampler.sample() for _ in range(3))
    assert sampler.history(since=first.timestamp_s) == [second, third]
    assert sampler.history(since=third.timestamp_s) == []
    assert sampler.history(since=0) == [first, second, third]
    assert Sampler(backends=[]).latest() is None


def test_stop_returns_promptly_while_waiting_for_the_next_tick() -> None:
    """With an hour between ticks, only an Event wait lets stop() join within its timeout."""
    sampled = threading.Event()

    def pids() -> Mapping[str, int]:
        sampled.set()
        return {}

    sampler = Sampler(interval_s=3600, pids=pids, backends=[])
    sampler.start()
    assert sampled.wait(timeout=60)
    assert sampler.running
    sampler.stop(timeout_s=30)
    assert not sampler.running
    assert len(sampler.history()) == 1


def test_context_manager_starts_and_stops() -> None:
    sampled = threading.Event()

    def pids() -> Mapping[str, int]:
        sampled.set()
        return {}

    with Sampler(interval_s=3600, pids=pids, backends=[]) as sampler:
        assert sampled.wait(timeout=60)
    assert not sampler.running


def test_a_failing_reading_does_not_end_the_thread() -> None:
    second_read = threading.Event()

    class FlakyBackend:
        name = "flaky"
        reads = 0

        def open(self) -> BackendStatus:
            return BackendStatus(self.name, available=True)

        def read(self) -> tuple[GpuSnapshot, ...]:
            self.reads += 1
            if self.reads == 1:
                raise RuntimeError("first reading fails")
            second_read.set()
            return ()

        def close(self) -> None:
            pass

    sampler = Sampler(interval_s=0.001, backends=[FlakyBackend()])
    sampler.start()
    try:
        assert second_read.wait(timeout=60)
    finally:
        sampler.stop(timeout_s=30)


def test_per_process_figures_for_this_process_and_a_child(child) -> None:
    pids = {"self": os.getpid(), "child": child.pid}
    sampler = Sampler(pids=lambda: pids, backends=[])
    first = {p.name: p for p in sampler.sample().processes}
    sum(range(200_000))  # some CPU time for this process between the samples
    second = {p.name: p for p in sampler.sample().processes}

    assert set(first) == set(second) == {"self", "child"}
    assert first["self"].cpu_percent is None  # a rate needs two readings
    me, other = second["self"], second["child"]
    assert me.pid == os.getpid() and other.pid == child.pid
    assert me.rss_bytes == pytest.approx(psutil.Process().memory_info().rss, rel=0.5)
    assert other.rss_bytes > 0
    assert me.cpu_percent is not None and me.cpu_percent >= 0
    assert other.cpu_percent is not None and other.cpu_percent >= 0
    assert me.gpu_memory_bytes is None  # no driver lists GPU processes here


def test_a_vanished_process_gives_no_entry(child) -> None:
    pids = {"child": child.pid}
    sampler = Sampler(pids=lambda: pids, backends=[])
    assert [p.name for p in sampler.sample().processes] == ["child"]
    child.kill()
    child.wait()
    assert sampler.sample().processes == ()


def test_a_pid_that_never_existed_gives_no_entry() -> None:
    unused = max(psutil.pids()) + 100_000
    sampler = Sampler(pids=lambda: {"ghost": unused}, backends=[])
    assert sampler.sample().processes == ()


def test_a_failing_pid_source_gives_no_entries() -> None:
    def broken() -> Mapping[str, int]:
        raise RuntimeError("supervisor not ready")

    assert Sampler(pids=broken, backends=[]).sample().processes == ()


def test_gpu_memory_comes_from_the_nvml_process_list_by_pid(child) -> None:
    """The recorded A100 reading lists PID 280058 with 22374 MiB; renamed to the child."""
    recorded = RecordedNvml.from_file(NVML_FIXTURES / "process_a100.json")
    renamed = recorded.with_pids({280058: child.pid})
    pids = {"engine": child.pid, "self": os.getpid()}
    sampler = Sampler(pids=lambda: pids, backends=[NvidiaBackend(lambda: renamed)])
    processes = {p.name: p for p in sampler.sample().processes}
    assert processes["engine"].gpu_memory_bytes == 22374 * MiB
    assert processes["engine"].gpu_indices == (0,)
    assert processes["self"].gpu_memory_bytes == 0  # listed nowhere, while lists are known
    assert processes["self"].gpu_indices == ()
    sampler.stop()


def test_cpu_utilisation_is_a_rate_between_samples() -> None:
    sampler = Sampler(backends=[])
    assert sampler.sample().cpu.utilization_percent is None
    sum(range(200_000))
    second = sampler.sample().cpu.utilization_percent
    assert second is None or 0 <= second <= 100  # None only if the clock tick did not move


def test_snapshots_are_json_and_round_trip(child) -> None:
    recorded = RecordedNvml.from_file(NVML_FIXTURES / "two_gpus_h100_rtx4060ti.json")
    pids = {"engine": child.pid}
    sampler = Sampler(pids=lambda: pids, backends=[NvidiaBackend(lambda: recorded)])
    sampler.sample()
    snapshot = sampler.sample()
    text = json.dumps(snapshot_to_dict(snapshot))
    assert snapshot_from_dict(json.loads(text)) == snapshot
    history = [snapshot_to_dict(s) for s in sampler.history()]
    assert len(json.loads(json.dumps(history))) == 2
    sampler.stop()
