"""End to end on generated sample streams: clips → real models → store and index → searches → scores.

The sample set is generated here (2 cameras); every subject is searched as an investigator would,
by its reference photo or its plate, and the answers are scored against the ground truth.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sample_streams.make import make_samples
from sightline.demo import demo_settings, prepare_demo, register_live_cameras
from sightline.evaluation.samples import evaluate_samples
from sightline.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory, base_settings: Settings) -> Path:
    out = tmp_path_factory.mktemp("samples")
    make_samples(out, base_settings, cameras=2, seconds=6.0, progress=False)
    return out


def test_pipeline_finds_every_subject_and_nothing_else(
    samples: Path, settings: Settings, tmp_path: Path
) -> None:
    result = evaluate_samples(settings, samples, progress=False, work_dir=tmp_path)
    assert result["ingest_errors"] == 0
    assert result["appearances"] > 0
    assert result["recall"] == 1.0, result["subjects"]
    assert result["precision"] == 1.0, result["subjects"]
    assert result["plates_exact"] == 1.0, result["subjects"]


def test_demo_ingests_once_and_lists_queries(samples: Path, settings: Settings) -> None:
    demo = demo_settings(settings)
    first = prepare_demo(demo, samples, progress=False)
    assert first.sightings > 0
    assert any("/api/search/plate?pattern=" in line for line in first.examples)
    assert any("/api/search/face" in line for line in first.examples)
    again = prepare_demo(demo, samples, progress=False)
    assert again.sightings == first.sightings, "a second demo run must not duplicate sightings"
    # One user per role the demo shows, with fresh passwords each start that really log in.
    assert set(again.logins) == {"demo-admin", "demo-investigator", "demo-operator"}
    assert again.logins["demo-investigator"] != first.logins["demo-investigator"]
    assert any("Authorization: Bearer $TOKEN" in line for line in again.examples)
    from search.services import SearchService
    from search.users import UserDirectory
    from sightline.errors import Unauthenticated

    with SearchService.open(demo.search) as svc:
        users = UserDirectory(svc.store)
        assert (
            users.authenticate("demo-investigator", again.logins["demo-investigator"]).role == "investigator"
        )
        with pytest.raises(Unauthenticated):
            users.authenticate("demo-admin", first.logins["demo-admin"])


def test_demo_points_sample_cameras_at_their_live_urls(samples: Path, settings: Settings) -> None:
    from search.services import SearchService

    demo = demo_settings(settings)
    urls = {cam: f"rtsp://127.0.0.1:8554/{cam}" for cam in ("cam-01", "cam-02")}
    assert register_live_cameras(demo, samples, urls) == 2
    again = {cam: f"rtsp://127.0.0.1:9554/{cam}" for cam in urls}
    register_live_cameras(demo, samples, again)
    service = SearchService.open(demo.search)
    try:
        assert {c.id: c.url for c in service.cameras()} == again, "a new replay port replaces the old URL"
    finally:
        service.close()
