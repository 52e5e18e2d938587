"""Metadata store: migrations, camera CRUD, sighting round trip with crop files, batch durability."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from recognition.types import Box, PlateRead
from search.records import Camera, NewSighting, SightingKind
from search.store import SightingStore
from sightline.errors import InputError, NotFound
from sightline.settings import Settings

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
JPEG = b"\xff\xd8\xff\xe0test-crop"


def unit(rng: np.random.Generator, dim: int = 512) -> np.ndarray:
    v = rng.normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


def face(camera: str, minutes: float, emb: np.ndarray | None) -> NewSighting:
    t = T0 + timedelta(minutes=minutes)
    return NewSighting(
        SightingKind.FACE, camera, t, t + timedelta(seconds=3), Box(1, 2, 30, 40), 0.8, JPEG, emb
    )


def _migrations_head() -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option(
        "script_location", str(Path(__file__).resolve().parent.parent / "search" / "migrations")
    )
    return ScriptDirectory.from_config(cfg).get_current_head()


@pytest.fixture()
def store(settings: Settings) -> Iterator[SightingStore]:
    s = SightingStore.open(settings.search)
    s.add_camera(Camera("cam-1", "North gate", 29.56, 106.55, "rtsp://u:p@10.0.0.1/s", ("gate",)))
    yield s
    s.close()


def test_migration_creates_schema_and_wal(store: SightingStore, settings: Settings) -> None:
    db = Path(settings.search.data_dir) / "sightline.db"
    con = sqlite3.connect(db)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        triggers = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
        mode = con.execute("PRAGMA journal_mode").fetchone()[0]
        version = con.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    finally:
        con.close()
    assert {"cameras", "sightings", "audit", "alembic_version"} <= tables
    assert {"audit_no_update", "audit_no_delete"} <= triggers
    assert mode == "wal"
    assert version == _migrations_head(), "the store is migrated to the newest revision at open"


def test_cameras_crud(store: SightingStore) -> None:
    assert store.get_camera("cam-1").tags == ("gate",)
    assert "u:p" not in repr(store.get_camera("cam-1"))
    with pytest.raises(InputError, match="already exists"):
        store.add_camera(Camera("cam-1", "again"))
    updated = store.update_camera("cam-1", name="North gate 2", lat=30.0)
    assert (updated.name, updated.lat, updated.lon) == ("North gate 2", 30.0, 106.55)
    with pytest.raises(InputError, match="lat"):
        store.update_camera("cam-1", lat=95.0)
    store.add_camera(Camera("cam-2", "South"))
    assert [c.id for c in store.list_cameras()] == ["cam-1", "cam-2"]
    store.delete_camera("cam-2")
    with pytest.raises(NotFound):
        store.get_camera("cam-2")


def test_sighting_round_trip_with_crop(store: SightingStore, settings: Settings) -> None:
    rng = np.random.default_rng(1)
    emb = unit(rng)
    plate = PlateRead(
        "渝A12345",
        (0.99, 0.98, 0.97, 0.96, 0.6, 0.95, 0.99),
        tuple(((c, 0.9),) for c in "渝A12345"),
        ("渝A12345", "渝A1Z345"),
    )
    sid = store.add_sighting(face("cam-1", 0, emb))
    vid = store.add_sighting(
        NewSighting(
            SightingKind.VEHICLE, "cam-1", T0, T0, Box(0, 0, 5, 5), 0.5, JPEG, plate=plate, color="red"
        )
    )
    got = store.get_sighting(sid)
    assert got.kind is SightingKind.FACE and got.camera_id == "cam-1"
    assert got.first_seen == T0 and got.first_seen.tzinfo is not None
    assert got.box == Box(1, 2, 30, 40) and got.embedding_dim == 512
    crop = store.crop_path(sid)
    assert crop == Path(settings.search.data_dir) / "crops/2024/05/01" / f"{sid}.jpg"
    assert crop.read_bytes() == JPEG
    veh = store.get_sighting(vid)
    assert veh.plate_text == "渝A12345" and veh.plate_confidence == pytest.approx(0.6)
    assert veh.plate_candidates == ("渝A12345", "渝A1Z345") and veh.color == "red"
    assert veh.plate_alternatives[1] == (("A", 0.9),)
    ids, vecs = next(store.iter_embeddings("face"))
    assert ids.tolist() == [sid] and np.array_equal(vecs[0], emb)
    assert store.index(SightingKind.FACE).search(emb, 1)[0][0] == sid
    with pytest.raises(NotFound):
        store.get_sighting(999)


def test_rejects_bad_inputs(store: SightingStore) -> None:
    rng = np.random.default_rng(2)
    with pytest.raises(NotFound, match="not registered"):
        store.add_sighting(face("nope", 0, unit(rng)))
    with pytest.raises(InputError, match="512-d"):
        store.add_sighting(face("cam-1", 0, unit(rng, 128)))
    bad_crop = NewSighting(SightingKind.FACE, "cam-1", T0, T0, Box(0, 0, 1, 1), 0.5, b"PNG")
    with pytest.raises(InputError, match="JPEG"):
        store.add_sighting(bad_crop)
    assert store.count_sightings() == 0
    assert list(Path(store.data_dir).rglob("*.jpg")) == []


def test_failure_mid_batch_keeps_earlier_sightings(store: SightingStore, settings: Settings) -> None:
    rng = np.random.default_rng(3)
    batch = [face("cam-1", 0, unit(rng)), face("cam-1", 1, unit(rng)), face("unknown-cam", 2, unit(rng))]
    batch.append(face("cam-1", 3, unit(rng)))
    with pytest.raises(NotFound):
        store.add_sightings(batch)
    store.close()
    reopened = SightingStore.open(settings.search)
    try:
        assert reopened.count_sightings() == 2
        assert len(reopened.index(SightingKind.FACE)) == 2
        for sid in (1, 2):
            assert reopened.crop_path(sid).is_file()
        assert len(list((Path(settings.search.data_dir) / "crops").rglob("*.jpg"))) == 2
    finally:
        reopened.close()
