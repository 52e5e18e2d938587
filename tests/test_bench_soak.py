"""The soak benchmark in a tiny configuration: 4 replayed cameras for 45 s with one server restart
(all 4 cameras) and one stall (1 camera), live ingest with the real models; every affected camera
must stream again and every sighting received must be stored.

The numbers themselves are measured by ``sightline bench soak``; this checks that the benchmark
injects what it says and counts what it reports. Skips only where GStreamer's RTSP server cannot
run (sample_streams/system_packages.txt).
"""

from __future__ import annotations

import os
from pathlib import Path

import av
import pytest
from realdeps import missing

from sightline.errors import StreamError
from sightline.evaluation.bench_soak import (
    RECOVERY_LIMIT_S,
    SOAK_FPS,
    SOAK_SIZE,
    bench_soak,
    make_soak_clip,
    rss_mb,
)
from sightline.settings import Settings

KEYS = {"cameras", "faults", "recovered", "max_recovery_s", "lost_sightings", "rss_warm_mb", "rss_end_mb"}


def test_soak_clip_is_small_with_one_second_gop(tmp_path: Path) -> None:
    clip = make_soak_clip(tmp_path / "c.mp4", 1)
    with av.open(str(clip)) as container:
        frames = list(container.decode(video=0))
    assert (frames[0].width, frames[0].height) == SOAK_SIZE
    assert [i for i, f in enumerate(frames) if f.key_frame] == list(range(0, len(frames), SOAK_FPS))
    # The shapes move: consecutive frames differ.
    assert (frames[0].to_ndarray(format="gray") != frames[1].to_ndarray(format="gray")).any()


def test_rss_counts_live_processes_only() -> None:
    assert rss_mb([os.getpid()]) > 10
    assert rss_mb([os.getpid(), 2**22 + 7]) == rss_mb([os.getpid()])


@pytest.mark.slow
def test_tiny_soak_recovers_every_camera_and_loses_nothing(settings: Settings, tmp_path: Path) -> None:
    from sample_streams.replay import check_gstreamer

    try:
        check_gstreamer()
    except StreamError as exc:
        missing(str(exc))
    data = settings.model_dump()
    data["ingest"].update({"stall_timeout_s": 2.0, "reconnect_base_s": 0.5, "status_interval_s": 0.5})
    result = bench_soak(
        Settings(**data), cameras=4, minutes=0.75, progress=False, faults=2, work_dir=tmp_path
    )
    assert result.keys() >= KEYS
    assert result["cameras"] == 4
    assert result["faults"] == 2
    assert [f["kind"] for f in result["fault_log"]] == ["restart", "stall"]
    assert result["affected"] == 4 + 1
    assert result["recovered"] == result["affected"], result["fault_log"]
    assert 0 < result["max_recovery_s"] <= RECOVERY_LIMIT_S
    assert result["sightings_received"] > 0, "the plate clip must produce sightings"
    assert result["lost_sightings"] == 0
    assert result["reconnects"] >= 4 + 1
    assert result["rss_warm_mb"] > 0 and result["rss_end_mb"] > 0
    assert result["rss_samples"] >= 6 and result["rss_slope_mb_per_min"] is not None
    assert all(f["rss_after_mb"] > 0 for f in result["fault_log"]), "memory sampled after every fault"
    assert result["streaming_at_end"] == 4
