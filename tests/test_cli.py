"""The command line: exit codes, one JSON object with --json, clear errors, audited searches."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from recognition.types import Box, PlateRead
from search.records import Camera, NewSighting, SightingKind
from search.services import SearchService
from sightline.cli import main
from sightline.settings import Settings

T0 = datetime(2024, 5, 18, 8, 0, tzinfo=UTC)


@pytest.fixture()
def store_dir(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store with two plate sightings on two cameras; the CLI finds it through the environment."""
    monkeypatch.setenv("SIGHTLINE_SEARCH__DATA_DIR", str(settings.search.data_dir))
    ok, jpeg = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
    assert ok
    svc = SearchService.open(settings.search)
    try:
        svc.store.add_camera(Camera("north", "North gate", 29.56, 106.55))
        svc.store.add_camera(Camera("south", "South gate", 29.50, 106.50))
        for minutes, cam in ((10, "south"), (0, "north")):
            t = T0 + timedelta(minutes=minutes)
            plate = PlateRead("渝A12345", (0.99,) * 7)
            svc.add_sighting(
                NewSighting(
                    SightingKind.VEHICLE,
                    cam,
                    t,
                    t + timedelta(seconds=4),
                    Box(0, 0, 8, 8),
                    0.9,
                    jpeg.tobytes(),
                    None,
                    plate,
                )
            )
    finally:
        svc.close()
    return settings.search.data_dir


def test_plate_search_prints_one_json_trajectory(store_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["search", "plate", "渝A*45", "--case", "C-7", "--reason", "stolen car", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["count"] == 2
    assert [p["camera_id"] for p in out["points"]] == ["north", "south"], "trajectory is in time order"


def test_search_is_audited(store_dir: Path, settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    main(["search", "plate", "渝A12345", "--case", "C-8", "--reason", "check", "--user", "inv-1", "--json"])
    svc = SearchService.open(settings.search)
    try:
        entries = svc.audit_entries(case_ref="C-8", actor=None, since=None, limit=10)
    finally:
        svc.close()
    assert len(entries) == 1
    assert entries[0].actor == "inv-1"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["search", "plate", "渝A*4!5", "--case", "C", "--reason", "r"], "'!' at position 5"),
        (["search", "plate", "**", "--case", "C", "--reason", "r"], "pattern"),
        (["search", "plate", "渝A12345", "--case", " ", "--reason", "r"], "case"),
        (["search", "plate", "渝A12345", "--case", "C", "--reason", "r", "--since", "yesterday"], "--since"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    store_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "sightline: error:" in err
    assert message in err


def test_face_search_on_a_photo_without_a_face(
    store_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "coffee.jpg"
    cv2.imwrite(str(photo), skdata.coffee()[..., ::-1])
    assert main(["search", "face", str(photo), "--case", "C", "--reason", "r"]) == 2
    assert "no face found" in capsys.readouterr().err


def test_face_search_on_a_corrupt_file(
    store_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "broken.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    assert main(["search", "face", str(photo), "--case", "C", "--reason", "r"]) == 2
    assert "not a readable image" in capsys.readouterr().err


def test_config_validate_names_a_bad_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[api]\nprot = 80\n", encoding="utf-8")
    assert main(["--config", str(cfg), "config", "validate"]) == 2
    assert "api.prot" in capsys.readouterr().err
