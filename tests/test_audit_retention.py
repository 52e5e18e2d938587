"""Audit trail (written for every search, append-only in the database) and retention."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from recognition.types import Box, PlateRead
from search.records import Camera, NewSighting, SearchRequest, SightingKind
from search.services import SearchService
from search.store import SightingStore
from sightline.errors import NotFound
from sightline.settings import Settings

NOW = datetime(2024, 6, 1, tzinfo=UTC)
REQ = SearchRequest(case_ref="CASE-9", reason="stolen vehicle", actor="officer-12")


@pytest.fixture()
def service(settings: Settings) -> Iterator[SearchService]:
    svc = SearchService.open(settings.search)
    svc.store.add_camera(Camera("cam", "Cam"))
    yield svc
    svc.close()


def add(svc: SearchService, days_ago: float, emb: np.ndarray, plate: str) -> int:
    t = NOW - timedelta(days=days_ago)
    read = PlateRead(plate, (0.99,) * len(plate))
    return svc.add_sighting(
        NewSighting(SightingKind.FACE, "cam", t, t, Box(0, 0, 1, 1), 0.9, b"\xff\xd8x", emb, read)
    )


def vec(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=512).astype(np.float32)
    return v / np.linalg.norm(v)


def test_every_search_is_audited(service: SearchService) -> None:
    sid = add(service, 1, vec(1), "渝A12345")
    service.search_face(REQ, vec(1))
    service.search_plate(REQ, "渝A*5")
    service.search_plate(SearchRequest("CASE-10", "other", "officer-3"), "川*")
    rows = service.audit_entries(case_ref="CASE-9")
    assert [r.action for r in rows] == ["search.plate", "search.face"]
    assert all(r.actor == "officer-12" and r.reason == "stolen vehicle" for r in rows)
    assert rows[0].query["pattern"] == "渝A*5" and rows[0].result_ids == (sid,)
    assert rows[1].result_ids == (sid,) and len(str(rows[1].query["embedding_sha256"])) == 64
    assert service.audit_entries(case_ref="CASE-10")[0].result_ids == ()


def test_audit_rows_cannot_be_changed(service: SearchService, settings: Settings) -> None:
    service.search_plate(REQ, "渝A*")
    con = sqlite3.connect(Path(settings.search.data_dir) / "sightline.db")
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            con.execute("UPDATE audit SET actor = 'someone else'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            con.execute("DELETE FROM audit")
    finally:
        con.close()
    assert service.audit_entries()[0].actor == "officer-12"


def test_retention_deletes_old_sightings_and_keeps_audit(service: SearchService, settings: Settings) -> None:
    old = [add(service, 40 + i, vec(10 + i), "渝A0000" + str(i)) for i in range(3)]
    new = [add(service, 5, vec(20), "渝A11111")]
    service.search_plate(REQ, "渝A*")
    old_crops = [service.crop_path(i) for i in old]
    report = service.purge_expired(now=NOW)
    assert report.deleted == 3 and report.crops_removed == 3
    assert not any(p.exists() for p in old_crops)
    for sid in old:
        with pytest.raises(NotFound):
            service.sighting(sid)
    assert service.crop_path(new[0]).is_file()
    index = service.store.index(SightingKind.FACE)
    assert len(index) == 1 and index.search(vec(10), 5)[0][0] == new[0]
    entries = service.audit_entries()
    assert entries[0].action == "retention.purge" and entries[0].actor == "system"
    assert sorted(entries[0].result_ids) == old
    assert entries[1].action == "search.plate"
    # The purge is persisted in the index files too: a reopened store agrees.
    service.close()
    reopened = SightingStore.open(settings.search)
    try:
        assert len(reopened.index(SightingKind.FACE)) == 1
    finally:
        reopened.close()


def test_the_server_applies_retention_on_a_schedule(service: SearchService) -> None:
    """api/retention.py: the loop purges at start and keeps going after a failed run."""
    import asyncio

    from api.retention import retention_loop

    real_now = datetime.now(UTC)
    t_old = real_now - timedelta(days=400)
    old = service.add_sighting(
        NewSighting(SightingKind.FACE, "cam", t_old, t_old, Box(0, 0, 1, 1), 0.9, b"\xff\xd8x", vec(1), None)
    )
    fresh = service.add_sighting(
        NewSighting(
            SightingKind.FACE, "cam", real_now, real_now, Box(0, 0, 1, 1), 0.9, b"\xff\xd8x", vec(2), None
        )
    )

    async def run_briefly() -> None:
        task = asyncio.create_task(retention_loop(service, 0.05))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run_briefly())
    with pytest.raises(NotFound):
        service.sighting(old)
    assert service.sighting(fresh).id == fresh
    purges = [e for e in service.audit_entries(case_ref=None, actor="system", since=None, limit=50)]
    assert purges and all(e.action == "retention.purge" for e in purges)
