"""``sightline replay DIR --check``: a generated sample set (2 cameras x 6 s) replayed as live RTSP
cameras, ingested by worker processes with the real models, searched and scored against its ground
truth, with wall-clock times mapped back onto the looping clips.

Skips only where GStreamer's RTSP server cannot run (sample_streams/system_packages.txt).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from realdeps import missing

from sample_streams.ground_truth import Appearance
from sample_streams.make import make_samples
from sightline.cli import main
from sightline.errors import StreamError
from sightline.evaluation.replay_check import LoopClock, check_replay
from sightline.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory, base_settings: Settings) -> Path:
    from sample_streams.replay import check_gstreamer

    try:
        check_gstreamer()
    except StreamError as exc:
        missing(str(exc))
    out = tmp_path_factory.mktemp("replay-check")
    make_samples(out, base_settings, cameras=2, seconds=6.0, progress=False)
    return out


def test_loop_clock_gives_one_instance_per_started_loop() -> None:
    origin = datetime(2026, 1, 1, tzinfo=UTC)
    start = origin + timedelta(hours=1)
    app = Appearance(
        subject_id="p",
        camera_id="c",
        t_start=1.0,
        t_end=2.5,
        first_frame=12,
        last_frame=30,
        start=start + timedelta(seconds=1.0),
        end=start + timedelta(seconds=2.5),
    )
    clock = LoopClock(origin, duration_s=6.0, speed=2.0)
    inst = clock.instances(3, app, until=origin + timedelta(seconds=7.0))
    # Loops of 3 s start at 0, 3 and 6 s; the one at 9 s had not started.
    assert [(i.start - origin).total_seconds() for i in inst] == [0.5, 3.5, 6.5]
    assert [(i.end - origin).total_seconds() for i in inst] == [1.25, 4.25, 7.25]
    assert {i.appearance for i in inst} == {3} and {i.camera_id for i in inst} == {"c"}


def test_live_replay_finds_every_subject(samples: Path, settings: Settings, tmp_path: Path) -> None:
    result = check_replay(settings, samples, progress=False, work_dir=tmp_path)
    assert result["appearances"] == 10
    assert result["recall"] == 1.0, result["subjects"]
    assert result["plates_exact"] == 1.0, result["subjects"]
    assert result["precision"] == 1.0, result["subjects"]
    assert result["precision_steady"] == 1.0, "sightings right after connecting carry correct times"
    assert result["write_errors"] == 0
    assert result["sightings_stored"] == result["sightings_written"]
    for camera in result["cameras"].values():
        assert camera["recall"] == 1.0
        assert camera["loops_watched"] >= 1.0
        assert camera["reconnects"] == 0


def test_cli_check_prints_one_json_object_over_several_loops(
    samples: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Watched for 2.5 loops: every loop's instance of an appearance scores as that appearance."""
    assert main(["replay", str(samples), "--check", "--json", "--seconds", "15"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"recall", "precision", "plates_exact", "cameras"} <= out.keys()
    assert set(out["cameras"]) == {"cam-01", "cam-02"}
    assert all({"recall", "precision", "sightings"} <= c.keys() for c in out["cameras"].values())
    assert all(c["loops_watched"] >= 2.0 for c in out["cameras"].values())
    assert out["recall"] == 1.0
    assert out["precision"] == 1.0
    # More sightings than appearances: the loops were seen more than once and all were scored.
    assert out["returned"] > out["appearances"]


def test_check_refuses_credentials(samples: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(samples), "--check", "--user", "u", "--password", "p"]) == 2
    assert "--user" in capsys.readouterr().err
