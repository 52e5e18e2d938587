"""Returning freed heap memory to the system, and the worker doing it on its schedule."""

from __future__ import annotations

import platform
import threading
from pathlib import Path
from typing import Any, cast

import pytest

from ingest import worker as worker_module
from ingest.memory import release_free_memory
from ingest.recognise import FrameRecogniser
from ingest.worker import CameraWorker
from sightline.settings import Settings


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_freed_heap_held_by_a_thread_arena_is_returned() -> None:
    """200 MB of 64 KiB blocks freed in a thread, with the last block kept so the heap top cannot
    shrink by itself: resident memory stays up until release_free_memory() returns it."""
    kept: list[bytearray] = []

    def churn() -> None:
        blocks = [bytearray(b"\x01" * (64 * 1024)) for _ in range(3200)]
        kept.append(blocks[-1])
        del blocks

    thread = threading.Thread(target=churn)
    before = _rss_mb()
    thread.start()
    thread.join()
    held = _rss_mb()
    assert held - before > 100, "the freed blocks should still be resident"
    assert release_free_memory() is True
    assert held - _rss_mb() > 100
    assert kept


def test_worker_trims_on_its_interval(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(worker_module, "release_free_memory", lambda: calls.append(1) or True)
    data = settings.model_dump()
    data["ingest"]["memory_trim_interval_s"] = 0.05
    # Housekeeping only: no camera, so the recogniser is never called.
    worker = CameraWorker(0, Settings(**data), cast(FrameRecogniser, object()), lambda _e: None)
    worker.step(timeout=0.0)
    assert not calls
    threading.Event().wait(0.06)
    worker.step(timeout=0.0)
    assert calls == [1]

    data["ingest"]["memory_trim_interval_s"] = 0
    off = CameraWorker(0, Settings(**data), cast(Any, object()), lambda _e: None)
    threading.Event().wait(0.01)
    off.step(timeout=0.0)
    assert calls == [1]
