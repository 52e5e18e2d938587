"""Searches through the service: face/vehicle/plate, time and camera filters, trajectory order, audit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from recognition.types import Box, PlateRead
from search.records import Camera, NewSighting, SearchRequest, SightingKind
from search.services import SearchService
from sightline.errors import InputError, PatternError
from sightline.settings import Settings

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
JPEG = b"\xff\xd8crop"
REQ = SearchRequest(case_ref="CASE-7", reason="missing person report", actor="inspector")


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


@pytest.fixture()
def service(settings: Settings) -> Iterator[SearchService]:
    svc = SearchService.open(settings.search, vehicle_dim=64)
    svc.store.add_camera(Camera("north", "North gate", 29.56, 106.55))
    svc.store.add_camera(Camera("south", "South gate", 29.50, 106.50))
    yield svc
    svc.close()


def add(
    svc: SearchService, kind: SightingKind, cam: str, minutes: int, emb: np.ndarray | None, plate: str = ""
) -> int:
    t = T0 + timedelta(minutes=minutes)
    read = PlateRead(plate, (0.99,) * len(plate)) if plate else None
    return svc.add_sighting(
        NewSighting(kind, cam, t, t + timedelta(seconds=5), Box(0, 0, 9, 9), 0.9, JPEG, emb, read)
    )


@pytest.fixture()
def person(service: SearchService) -> tuple[np.ndarray, list[int], list[int]]:
    """One person seen 6 times at alternating cameras (inserted out of time order) among 40 strangers."""
    rng = np.random.default_rng(7)
    centre = unit(rng.normal(size=512))
    mine = []
    for minutes in (50, 10, 30, 0, 40, 20):
        cam = "north" if minutes % 20 == 0 else "south"
        mine.append(add(service, SightingKind.FACE, cam, minutes, unit(centre + 0.03 * rng.normal(size=512))))
    others = [add(service, SightingKind.FACE, "north", i, unit(rng.normal(size=512))) for i in range(40)]
    return centre, mine, others


def test_face_search_returns_trajectory_in_time_order(
    service: SearchService, person: tuple[np.ndarray, list[int], list[int]]
) -> None:
    centre, mine, _ = person
    traj = service.search_face(REQ, centre, k=20)
    assert sorted(traj.sighting_ids) == sorted(mine)
    times = [p.first_seen for p in traj.points]
    assert times == sorted(times)
    first = traj.points[0]
    assert (first.camera_id, first.camera_name, first.lat) == ("north", "North gate", 29.56)
    assert first.crop_url == f"/api/sightings/{first.sighting_id}/crop"
    assert all(p.score > 0.7 for p in traj.points)
    groups = traj.by_camera()
    assert list(groups) == ["north", "south"] and len(groups["north"]) == 3


def test_time_and_camera_filters(
    service: SearchService, person: tuple[np.ndarray, list[int], list[int]]
) -> None:
    centre, _, _ = person
    req = SearchRequest(
        "CASE-7", "window", "inspector", since=T0 + timedelta(minutes=15), until=T0 + timedelta(minutes=41)
    )
    assert [p.first_seen.minute for p in service.search_face(req, centre).points] == [20, 30, 40]
    south = SearchRequest("CASE-7", "south only", "inspector", camera_ids=("south",))
    assert {p.camera_id for p in service.search_face(south, centre).points} == {"south"}
    assert len(service.search_face(south, centre, k=2)) == 2


def test_min_similarity_and_k(
    service: SearchService, person: tuple[np.ndarray, list[int], list[int]]
) -> None:
    centre, _, _ = person
    assert len(service.search_face(REQ, centre, k=3)) == 3
    assert len(service.search_face(REQ, centre, k=100, min_similarity=-1.0)) == 46
    with pytest.raises(InputError, match="512-d"):
        service.search_face(REQ, centre[:100])


def test_vehicle_and_plate_search(service: SearchService) -> None:
    rng = np.random.default_rng(8)
    car = unit(rng.normal(size=64))
    a = add(service, SightingKind.VEHICLE, "north", 5, unit(car + 0.02 * rng.normal(size=64)), "渝A12345")
    b = add(service, SightingKind.VEHICLE, "south", 15, unit(car + 0.02 * rng.normal(size=64)), "渝AD2345")
    c = add(service, SightingKind.VEHICLE, "south", 25, unit(rng.normal(size=64)), "川B99999")
    assert sorted(service.search_vehicle(REQ, car).sighting_ids) == [a, b]
    assert service.search_plate(REQ, "渝a*2345", fuzzy=False).sighting_ids == [a, b]
    assert service.search_plate(REQ, "渝A0234?", fuzzy=False).sighting_ids == []
    fuzzy = service.search_plate(REQ, "渝A0234?")
    assert fuzzy.sighting_ids == [b] and fuzzy.points[0].score < 1.0
    d = add(service, SightingKind.VEHICLE, "north", 35, None, "渝A02345")
    ranked = service.search_plate(REQ, "渝A0234?")
    assert [(p.sighting_id, p.score == 1.0) for p in sorted(ranked.points, key=lambda p: -p.score)] == [
        (d, True),
        (b, False),
    ]
    late = SearchRequest(
        "CASE-7", "later", "inspector", since=T0 + timedelta(minutes=10), until=T0 + timedelta(minutes=20)
    )
    assert service.search_plate(late, "渝A*2345").sighting_ids == [b]
    assert service.search_plate(
        SearchRequest("CASE-7", "n", "i", camera_ids=("north",)), "渝A0*"
    ).sighting_ids == [d]
    assert service.search_plate(REQ, "川*").sighting_ids == [c]
    with pytest.raises(PatternError, match="position 2"):
        service.search_plate(REQ, "渝$")


@pytest.mark.parametrize(
    ("case_ref", "reason", "actor", "message"),
    [("", "why", "me", "case_ref"), ("C-1", "  ", "me", "reason"), ("C-1", "why", "", "actor")],
)
def test_request_requires_case_reason_actor(case_ref: str, reason: str, actor: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        SearchRequest(case_ref, reason, actor)


def test_request_rejects_naive_and_inverted_times() -> None:
    with pytest.raises(InputError, match="timezone"):
        SearchRequest("C", "r", "a", since=datetime(2024, 1, 1))
    with pytest.raises(InputError, match="before since"):
        SearchRequest("C", "r", "a", since=T0, until=T0 - timedelta(seconds=1))
