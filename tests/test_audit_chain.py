"""The tamper-evident audit: hash chain, signed checkpoints, `sightline audit verify`, text limits.

Every attack is made on a real SQLite file the way someone holding it would: raw ``sqlite3``, the
append-only triggers dropped, rows changed, the triggers put back. The records come from real
searches and a real retention purge through the search service.
"""

from __future__ import annotations

import itertools
import json
import logging
import multiprocessing
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import create_engine

from recognition.types import Box, PlateRead
from search.audit import AuditLog
from search.audit_chain import GENESIS_HASH, canonical_encoding, record_hash
from search.audit_checkpoints import CheckpointLog
from search.audit_text import printable
from search.audit_verify import verify_audit
from search.records import AuditRecord, Camera, NewSighting, SearchRequest, SightingKind
from search.services import SearchService
from search.settings import SearchSettings
from search.store import SightingStore
from sightline.cli import main
from sightline.errors import InputError, NoFaceFound
from sightline.settings import Settings

NOW = datetime(2024, 6, 1, tzinfo=UTC)
REQ = SearchRequest(case_ref="CASE-9", reason="stolen vehicle", actor="officer-12")
EVERY = 4
"""Checkpoint cadence in these tests: records 4, 8, 12 … are checkpointed."""

_TRIGGERS = {
    "audit_no_update": "BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END",
    "audit_no_delete": "BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END",
}


def _with(settings: Settings, **search: Any) -> Settings:
    data = settings.model_dump()
    data["search"].update(search)
    return Settings(**data)


@pytest.fixture()
def chained(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings checkpointing every EVERY records; the CLI finds the same store through the environment."""
    monkeypatch.setenv("SIGHTLINE_SEARCH__DATA_DIR", str(settings.search.data_dir))
    monkeypatch.setenv("SIGHTLINE_SEARCH__AUDIT_CHECKPOINT_EVERY", str(EVERY))
    return _with(settings, audit_checkpoint_every=EVERY)


def _vec(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=512).astype(np.float32)
    return v / np.linalg.norm(v)


def _fill(settings: Settings, searches: int = 11) -> None:
    """``searches`` real searches and one retention purge: ``searches + 1`` audit records."""
    with SearchService.open(settings.search) as svc:
        svc.store.add_camera(Camera("cam", "Cam"))
        for i, days in enumerate((1, 40)):
            t = NOW - timedelta(days=days)
            read = PlateRead(f"渝A1234{i}", (0.99,) * 7)
            svc.add_sighting(
                NewSighting(SightingKind.FACE, "cam", t, t, Box(0, 0, 1, 1), 0.9, b"\xff\xd8x", _vec(i), read)
            )
        for i in range(searches):
            if i % 2:
                svc.search_face(REQ, _vec(0))
            else:
                svc.search_plate(SearchRequest(f"CASE-{i}", "check", f"officer-{i}"), "渝A*")
        svc.purge_expired(now=NOW)


def _db(settings: Settings) -> Path:
    return Path(settings.search.data_dir) / "sightline.db"


def _tamper(settings: Settings, *statements: tuple[str, tuple[Any, ...]]) -> None:
    """What someone holding the file can do: drop the guards, change rows, put the guards back."""
    con = sqlite3.connect(_db(settings))
    try:
        for name in _TRIGGERS:
            con.execute(f"DROP TRIGGER {name}")
        for sql, params in statements:
            con.execute(sql, params)
        for name, body in _TRIGGERS.items():
            con.execute(f"CREATE TRIGGER {name} {body}")
        con.commit()
    finally:
        con.close()


def _verify_cli(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any]]:
    rc = main(["audit", "verify", "--json", *extra])
    out = capsys.readouterr().out
    assert out.count("\n") == 1, "exactly one JSON object on stdout"
    return rc, json.loads(out)


def _records(settings: Settings) -> list[AuditRecord]:
    with SightingStore.open(settings.search) as store:
        return list(AuditLog(store).iter_chain())


# --- an untouched store -----------------------------------------------------------------------


def test_untouched_audit_verifies(chained: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(chained)
    records = _records(chained)
    assert len(records) == 12
    assert records[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))
    assert records[-1].event == "retention.purge" and records[-1].component == "retention"
    assert {r.component for r in records[:-1]} == {"search"}

    rc, out = _verify_cli(capsys)
    assert rc == 0
    assert out == {"ok": True, "records": 12, "first_bad_id": None, "reason": None, "checkpoints": 3}

    assert main(["audit", "verify"]) == 0
    table = capsys.readouterr().out
    assert "ok" in table and "TAMPERED" not in table


def test_checkpoint_files_and_key_permissions(chained: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(chained, searches=2)  # 3 records: below the cadence, no checkpoint yet
    log = CheckpointLog.from_settings(chained.search)
    assert not log.path.exists() and not log.key_file.exists(), "the key is made on first use only"
    assert main(["audit", "checkpoint", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["checkpoint"]["last_id"] == 3 and out["checkpoint"]["count"] == 3
    data = Path(chained.search.data_dir)
    assert log.path == data / "audit-checkpoints" / "checkpoints.jsonl"
    assert log.key_file == data / "keys" / "audit-ed25519.key"
    assert log.key_file.stat().st_mode & 0o777 == 0o600
    assert log.key_file.parent.stat().st_mode & 0o777 == 0o700
    assert log.public_key_file.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    # Verifying needs only the public key: without the private key the verdict is the same.
    shutil.move(log.key_file, data / "elsewhere.key")
    rc, result = _verify_cli(capsys)
    assert rc == 0 and result["checkpoints"] == 1


def test_canonical_encoding_is_fixed() -> None:
    """An independent verifier must reproduce these bytes; a change here is a new ENCODING_VERSION."""
    record = AuditRecord(
        id=7,
        at=datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        actor="inv-1",
        case_ref="渝-7",
        reason="why",
        action="search.plate",
        query={"pattern": "渝A*", "k": 5, "f": 0.4},
        result_ids=(3, 1),
        component="search",
        outcome="ok",
    )
    expected = (
        '{"actor":"inv-1","at":"2026-01-02T03:04:05.000006Z","case_ref":"渝-7","component":"search",'
        '"event":"search.plate","id":7,"outcome":"ok","query":{"f":0.4,"k":5,"pattern":"渝A*"},'
        '"reason":"why","result_ids":[3,1],"v":1}'
    ).encode()
    assert canonical_encoding(record) == expected
    import hashlib

    assert record_hash(GENESIS_HASH, record) == hashlib.sha256(bytes(32) + expected).hexdigest()


# --- what tampering is caught ------------------------------------------------------------------


def test_a_changed_field_is_caught(chained: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(chained)
    _tamper(chained, ("UPDATE audit SET reason = 'routine patrol' WHERE id = 7", ()))
    rc, out = _verify_cli(capsys)
    assert rc == 1 and out["ok"] is False
    assert out["first_bad_id"] == 7
    assert "record 7 was altered" in out["reason"]


def test_a_deleted_record_is_caught(chained: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(chained)
    _tamper(chained, ("DELETE FROM audit WHERE id = 5", ()))
    rc, out = _verify_cli(capsys)
    assert rc == 1
    assert out["first_bad_id"] == 5
    assert "record 5 missing" in out["reason"]
    assert out["records"] == 11


def _rewrite_from(settings: Settings, first: int, change: str, params: tuple[Any, ...]) -> None:
    """Change record ``first`` and recompute every later hash: a consistent chain, without the key."""
    _tamper(settings, (change, params))
    records = _records(settings)
    prev = records[first - 2].hash if first > 1 else GENESIS_HASH
    updates: list[tuple[str, tuple[Any, ...]]] = []
    for rec in records[first - 1 :]:
        digest = record_hash(prev, replace(rec, prev_hash=prev))
        updates.append(("UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?", (prev, digest, rec.id)))
        prev = digest
    _tamper(settings, *updates)


@pytest.mark.parametrize(("every", "expected_first_bad"), [(EVERY, 5), (1, 6)])
def test_a_consistently_rewritten_chain_is_caught_by_the_checkpoints(
    chained: Settings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    every: int,
    expected_first_bad: int,
) -> None:
    monkeypatch.setenv("SIGHTLINE_SEARCH__AUDIT_CHECKPOINT_EVERY", str(every))
    settings = _with(chained, audit_checkpoint_every=every)
    _fill(settings)
    _rewrite_from(settings, 6, "UPDATE audit SET actor = 'nobody' WHERE id = 6", ())
    rc, out = _verify_cli(capsys)
    assert rc == 1
    # The checkpoint signed after the change no longer matches: the change lies after the last
    # checkpoint that still does (record 4 at every 4 records; record 5 when every record is one).
    assert out["first_bad_id"] == expected_first_bad
    assert "checkpoint" in out["reason"] and "rewritten" in out["reason"]
    # The chain alone is consistent: without the checkpoints the rewrite would pass.
    shutil.rmtree(Path(settings.search.data_dir) / "audit-checkpoints")
    rc, out = _verify_cli(capsys)
    assert rc == 0 and out["checkpoints"] == 0


def test_a_truncated_tail_is_caught_by_the_checkpoint(
    chained: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(chained)  # 12 records, checkpoints at 4, 8 and 12
    _tamper(
        chained,
        ("DELETE FROM audit WHERE id > 9", ()),
        # Covering their tracks: the AUTOINCREMENT counter put back too.
        ("UPDATE sqlite_sequence SET seq = 9 WHERE name = 'audit'", ()),
    )
    rc, out = _verify_cli(capsys)
    assert rc == 1
    assert out["first_bad_id"] == 10
    assert "checkpoint" in out["reason"] and "records 10-12 were deleted" in out["reason"]


def test_a_truncated_tail_past_the_last_checkpoint_shows_in_the_id_counter(
    chained: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(chained, searches=9)  # 10 records, checkpoints at 4 and 8
    _tamper(chained, ("DELETE FROM audit WHERE id > 8", ()))
    rc, out = _verify_cli(capsys)
    assert rc == 1 and out["first_bad_id"] == 9
    assert "ids up to 10 were issued" in out["reason"]
    # The next record keeps the gap visible rather than reusing a deleted id.
    with SightingStore.open(chained.search) as store:
        assert AuditLog(store).record(REQ, "search.plate", {}, []).id == 11
    rc, out = _verify_cli(capsys)
    assert rc == 1 and out["first_bad_id"] == 9 and "record 9-10 missing" in out["reason"]


def test_an_altered_checkpoint_line_is_caught(chained: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(chained)
    path = CheckpointLog.from_settings(chained.search).path
    lines = path.read_bytes().splitlines(keepends=True)
    assert len(lines) == 3
    lines[1] = lines[1].replace(b'"count":8', b'"count":7')
    path.write_bytes(b"".join(lines))
    rc, out = _verify_cli(capsys)
    assert rc == 1
    assert out["first_bad_id"] is None, "the records are intact; the checkpoint line is not"
    assert "checkpoint line 2" in out["reason"] and "bad signature" in out["reason"]
    assert out["checkpoints"] == 2


def test_a_deleted_checkpoint_line_is_caught(chained: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(chained)
    path = CheckpointLog.from_settings(chained.search).path
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[2])
    rc, out = _verify_cli(capsys)
    assert rc == 1 and "does not follow" in out["reason"]


def test_checkpoints_re_signed_with_another_key_are_caught(
    chained: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _fill(chained)
    data = Path(chained.search.data_dir)
    pinned = tmp_path / "audit-ed25519.pub"
    shutil.copy(data / "audit-checkpoints" / "audit-ed25519.pub", pinned)
    _rewrite_from(chained, 6, "UPDATE audit SET actor = 'nobody' WHERE id = 6", ())
    # A forger signs fresh checkpoints of the rewritten chain with a key of their own.
    forged = CheckpointLog(tmp_path / "forged", tmp_path / "forged-keys" / "k.key")
    with SightingStore.open(chained.search) as store:
        assert AuditLog(store, forged).checkpoint() is not None
    shutil.rmtree(data / "audit-checkpoints")
    shutil.copytree(tmp_path / "forged", data / "audit-checkpoints")
    rc, out = _verify_cli(capsys)
    assert rc == 1 and "is not the signing key's" in out["reason"]
    # Where the real private key is out of reach, a public key kept elsewhere does the same job.
    rc, out = _verify_cli(capsys, "--public-key", str(pinned))
    assert rc == 1 and "bad signature" in out["reason"]


def test_dropped_triggers_are_reported(chained: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(chained, searches=2)
    con = sqlite3.connect(_db(chained))
    con.execute("DROP TRIGGER audit_no_delete")
    con.commit()
    con.close()
    rc, out = _verify_cli(capsys)
    assert rc == 1 and out["first_bad_id"] is None and "audit_no_delete" in out["reason"]


def test_checkpoint_refuses_to_endorse_a_broken_chain(
    chained: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(chained, searches=5)  # 6 records, checkpoint at 4
    _tamper(chained, ("UPDATE audit SET reason = 'x' WHERE id = 5", ()))
    assert main(["audit", "checkpoint"]) == 2
    assert "record 5 was altered" in capsys.readouterr().err


# --- concurrent writers and the migration ----------------------------------------------------


def _append_many(data_dir: str, worker: int, n: int, start: Any) -> None:
    """One writer process: ``n`` records as fast as it can, after both writers are ready."""
    settings = SearchSettings(data_dir=Path(data_dir), audit_checkpoint_every=10)
    store = SightingStore.open(settings)
    try:
        audit = AuditLog(store)
        start.wait()
        request = SearchRequest(f"CASE-W{worker}", "concurrency", f"writer-{worker}")
        for i in range(n):
            audit.record(request, "search.plate", {"worker": worker, "i": i}, [i])
            # A breath between appends, as between real searches: without it one writer can take the
            # lock 50 times in a row while the other's busy handler sleeps, and nothing interleaves.
            time.sleep(0.002)
    finally:
        store.close()


@pytest.mark.slow
def test_two_processes_appending_at_once_keep_one_chain(chained: Settings) -> None:
    data_dir = Path(chained.search.data_dir)
    SightingStore.open(chained.search).close()  # migrate once, before the writers race
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    workers = [ctx.Process(target=_append_many, args=(str(data_dir), w, 50, start)) for w in (1, 2)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=120)
    assert [p.exitcode for p in workers] == [0, 0]
    records = _records(chained)
    assert [r.id for r in records] == list(range(1, 101))
    assert len({r.prev_hash for r in records}) == 100, "no two records chain to the same predecessor"
    assert {r.actor for r in records} == {"writer-1", "writer-2"}
    by_writer = [[r.query["i"] for r in records if r.actor == f"writer-{w}"] for w in (1, 2)]
    assert by_writer == [list(range(50)), list(range(50))]
    interleaved = sum(a.actor != b.actor for a, b in itertools.pairwise(records))
    assert interleaved > 1, "the writers really ran at the same time"
    with SightingStore.open(_with(chained, audit_checkpoint_every=10).search) as store:
        result = verify_audit(AuditLog(store))
    assert result.ok, result.problems
    assert result.records == 100 and result.checkpoints >= 1


def test_the_migration_chains_existing_rows(
    settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from alembic import command
    from alembic.config import Config

    monkeypatch.setenv("SIGHTLINE_SEARCH__DATA_DIR", str(settings.search.data_dir))
    data = Path(settings.search.data_dir)
    data.mkdir(parents=True)
    engine = create_engine(f"sqlite:///{data / 'sightline.db'}")
    cfg = Config()
    cfg.set_main_option(
        "script_location", str(Path(__file__).resolve().parent.parent / "search" / "migrations")
    )
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    con = sqlite3.connect(data / "sightline.db")
    old_rows = [
        (
            "2024-05-01 08:00:00.123456",
            "officer-1",
            "CASE-1",
            "lost child",
            "search.face",
            '{"k": 5}',
            "[3, 4]",
        ),
        (
            "2024-05-02 09:30:00.000000",
            "officer-2",
            "CASE-2",
            "stolen car",
            "search.plate",
            '{"pattern": "渝A*"}',
            "[]",
        ),
        (
            "2024-05-03 00:00:00.000000",
            "system",
            "system",
            "retention of 30 days",
            "retention.purge",
            "{}",
            "[1]",
        ),
    ]
    con.executemany(
        "INSERT INTO audit (at, actor, case_ref, reason, action, query, result_ids) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        old_rows,
    )
    con.commit()
    con.close()
    engine.dispose()

    with SightingStore.open(settings.search) as store:  # migrates to the head
        audit = AuditLog(store)
        records = list(audit.iter_chain())
        assert verify_audit(audit).ok
        audit.record(REQ, "search.plate", {"pattern": "川*"}, [])
    assert [r.component for r in records] == ["search", "search", "retention"]
    assert [r.outcome for r in records] == ["ok"] * 3
    assert records[0].prev_hash == GENESIS_HASH
    assert records[0].at == datetime(2024, 5, 1, 8, 0, 0, 123456, tzinfo=UTC)
    rc, out = _verify_cli(capsys)
    assert rc == 0 and out["records"] == 4
    con = sqlite3.connect(data / "sightline.db")
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            con.execute("UPDATE audit SET reason = 'x'")
    finally:
        con.close()


# --- audit text: limits, control characters, one log line per record ----------------------------


@pytest.fixture()
def audit(chained: Settings) -> Iterator[AuditLog]:
    store = SightingStore.open(chained.search)
    yield AuditLog(store)
    store.close()


FAKE_LINE = "\n2026-01-01 INFO fake line"


@pytest.mark.parametrize(
    ("case_ref", "reason", "actor", "message"),
    [
        ("C" * 65, "r", "a", "case_ref is 65 characters long; at most 64"),
        ("C", "r" * 1001, "a", "reason is 1001 characters long; at most 1000"),
        ("C", "r", "a" * 65, "actor is 65 characters long; at most 64"),
        ("C-1" + FAKE_LINE, "r", "a", "case_ref contains the control character \\n"),
        ("C", "r", "inv\x1b[2J", "actor contains the control character \\x1b"),
        ("C", "r\x00", "a", "reason contains the control character \\x00"),
        ("C\u2028x", "r", "a", "case_ref contains the control character \\u2028"),
        ("C", "r", "a\x85", "actor contains the control character \\x85"),
    ],
)
def test_bad_audit_text_is_refused_before_anything_is_written(
    audit: AuditLog,
    caplog: pytest.LogCaptureFixture,
    case_ref: str,
    reason: str,
    actor: str,
    message: str,
) -> None:
    with pytest.raises(InputError) as excinfo:
        SearchRequest(case_ref=case_ref, reason=reason, actor=actor)
    assert message in str(excinfo.value)
    with caplog.at_level(logging.INFO, logger="search.audit"), pytest.raises(InputError, match="character"):
        audit.record_event("auth.login", actor=actor, case_ref=case_ref, reason=reason)
    assert audit.count() == 0
    assert not [r for r in caplog.records if r.name == "search.audit"]


def test_a_reason_may_span_lines_and_odd_characters_are_escaped_in_the_log(
    audit: AuditLog, caplog: pytest.LogCaptureFixture
) -> None:
    request = SearchRequest(
        case_ref="CASE-\u202e7\u200b", reason="first line\r\nsecond" + FAKE_LINE, actor="inv-\u00a0x"
    )
    with caplog.at_level(logging.INFO, logger="search.audit"):
        record = audit.record(request, "search.plate", {"pattern": "渝A*"}, [1, 2])
    assert record.reason == request.reason, "the audit keeps the reason as given"
    (line,) = [r.getMessage() for r in caplog.records if r.name == "search.audit"]
    assert "\n" not in line and "\r" not in line and "\u202e" not in line
    assert "CASE-\\u202e7\\u200b" in line and "inv-\\xa0x" in line


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("C-1" + FAKE_LINE, "C-1\\n2026-01-01 INFO fake line"),
        ("a\rb\tc", "a\\rb\\tc"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("back\\slash", "back\\\\slash"),
        ("渝A12345", "渝A12345"),
        ("\U000e0001tag", "\\U000e0001tag"),
    ],
)
def test_printable_escapes_like_repr(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_outcomes_and_components(audit: AuditLog, capsys: pytest.CaptureFixture[str]) -> None:
    audit.record(REQ, "search.face", {"k": 5}, [], outcome="denied")
    failed = audit.record_failure(REQ, "search.face", {"k": 5}, NoFaceFound("no face in the photo"))
    event = audit.record_event("cameras.update", actor="admin-1", detail={"camera": "north"}, component="api")
    assert failed.outcome == "error:NoFaceFound" and failed.result_ids == ()
    assert (event.component, event.event, event.case_ref, event.query) == (
        "api",
        "cameras.update",
        "",
        {"camera": "north"},
    )
    with pytest.raises(ValueError, match="outcome"):
        audit.record(REQ, "search.face", {}, [], outcome="error: no face")
    assert verify_audit(audit).ok
    assert main(["audit", "list", "--case", "CASE-9", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["records"]
    assert [(r["event"], r["outcome"]) for r in listed] == [
        ("search.face", "error:NoFaceFound"),
        ("search.face", "denied"),
    ]
