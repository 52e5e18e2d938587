"""Camera CSV import: validation table, row numbers, --strict, updates of existing ids, redacted list.

CSV texts are written by the tests; the CLI runs in-process on a store in a temporary directory.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from search.camera_import import StreamKind, classify_stream_url, parse_camera_csv
from search.records import Camera
from search.store import SightingStore
from sightline.cli import main
from sightline.errors import InputError
from sightline.settings import Settings

SECRET = "s3cret"
GOOD = f"""id,name,url,lat,lon,tags
gate-n,North gate,rtsp://admin:{SECRET}@10.0.0.5:554/s1,30.57,104.06,gate;entrance
gate-s,South gate,rtsps://10.0.0.6/s1,30.50,104.00,
replay,Replay clip,/var/clips/gate.mp4,,,sample
clipfile,Clip by URL,file:///var/clips/x.mp4,1.5,2.5,
"""


@pytest.fixture()
def data_dir(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI finds the temporary store through the environment."""
    monkeypatch.setenv("SIGHTLINE_SEARCH__DATA_DIR", str(settings.search.data_dir))
    return Path(settings.search.data_dir)


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cameras.csv"
    path.write_text(text, encoding="utf-8")
    return path


def _stored(settings: Settings) -> dict[str, Camera]:
    store = SightingStore.open(settings.search)
    try:
        return {c.id: c for c in store.list_cameras()}
    finally:
        store.close()


@pytest.mark.parametrize(
    ("url", "kind", "error"),
    [
        ("rtsp://u:p@cam.local:554/s", StreamKind.LIVE, None),
        ("RTSPS://cam.local/s", StreamKind.LIVE, None),
        ("file:///clips/a.mp4", StreamKind.FILE, None),
        ("clips/a.mp4", StreamKind.FILE, None),
        ("http://cam.local/mjpeg", None, "unsupported URL scheme 'http://'"),
        ("rtsp:///nohost", None, "has no host"),
        ("  ", None, "empty"),
    ],
)
def test_classify_stream_url(url: str, kind: StreamKind | None, error: str | None) -> None:
    if error is None:
        assert classify_stream_url(url) is kind
    else:
        with pytest.raises(InputError, match=error):
            classify_stream_url(url)


def test_good_file_parses_every_row() -> None:
    parsed = parse_camera_csv(GOOD)
    assert parsed.ok
    by_id = {c.id: c for c in parsed.cameras}
    assert list(by_id) == ["gate-n", "gate-s", "replay", "clipfile"]
    assert by_id["gate-n"].tags == ("gate", "entrance") and by_id["gate-n"].lat == pytest.approx(30.57)
    assert by_id["replay"].lat is None and by_id["replay"].tags == ("sample",)
    assert by_id["gate-s"].tags == ()


def test_tags_column_is_optional_and_columns_may_come_in_any_order() -> None:
    parsed = parse_camera_csv("lon,lat,url,name,id\n104.1,30.2,rtsp://h/s,Gate,g1\n")
    assert parsed.ok and parsed.cameras[0] == Camera("g1", "Gate", 30.2, 104.1, "rtsp://h/s", ())


def test_missing_columns_are_named() -> None:
    with pytest.raises(InputError, match="lacks column\\(s\\) url, lon"):
        parse_camera_csv("id,name,lat\ng1,Gate,1.0\n")
    with pytest.raises(InputError, match="empty"):
        parse_camera_csv("")


def test_bad_rows_are_reported_with_their_line_numbers() -> None:
    text = (
        "id,name,url,lat,lon,tags\n"  # line 1
        "a,A,rtsp://h/a,1,2,\n"  # 2 ok
        "a,A again,rtsp://h/a2,1,2,\n"  # 3 duplicate
        ",No id,rtsp://h/x,1,2,\n"  # 4 empty id
        "b,B,rtsp://h/b,north,2,\n"  # 5 lat not a number
        "c,C,rtsp://h/c,1,200,\n"  # 6 lon out of range
        "d,D,http://h/d,1,2,\n"  # 7 scheme
        "\n"  # 8 blank: skipped
        "e,E,rtsp://h/e,nan,2,\n"  # 9 nan
        "f,F,rtsp://h/f,1,2,t,extra\n"  # 10 too many fields
    )
    parsed = parse_camera_csv(text)
    assert [c.id for c in parsed.cameras] == ["a"]
    errors = {e.line: (e.camera_id, e.message) for e in parsed.errors}
    assert sorted(errors) == [3, 4, 5, 6, 7, 9, 10]
    assert errors[3] == ("a", "duplicate id, first on line 2")
    assert errors[4] == (None, "id is empty")
    assert "lat 'north' is not a number" in errors[5][1]
    assert "lon 200.0 is outside [-180, 180]" in errors[6][1]
    assert "unsupported URL scheme 'http://'" in errors[7][1]
    assert "lat nan is outside" in errors[9][1]
    assert "more fields than columns" in errors[10][1]


def test_import_cli_adds_then_updates_and_never_prints_credentials(
    tmp_path: Path,
    data_dir: Path,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    path = _csv(tmp_path, GOOD)
    assert main(["cameras", "import", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["added"] == 4 and report["updated"] == 0 and report["refused"] == 0
    assert _stored(settings)["gate-n"].url == f"rtsp://admin:{SECRET}@10.0.0.5:554/s1"

    path.write_text(GOOD.replace("North gate", "North gate (east)"), encoding="utf-8")
    assert main(["cameras", "import", str(path)]) == 0
    out = capsys.readouterr().out
    assert "0 added, 4 updated (existing ids)" in out and "updated: gate-n, gate-s, replay, clipfile" in out
    assert _stored(settings)["gate-n"].name == "North gate (east)"

    assert main(["cameras", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["count"] == 4
    assert {c["id"]: c["url"] for c in listed["cameras"]}["gate-n"] == "rtsp://***@10.0.0.5:554/s1"
    assert main(["cameras", "list"]) == 0
    table = capsys.readouterr().out
    assert "rtsp://***@10.0.0.5:554/s1" in table and "4 camera(s)" in table
    assert SECRET not in out + table + json.dumps(listed) + json.dumps(report) + caplog.text


def test_import_cli_imports_good_rows_and_reports_bad_ones(
    tmp_path: Path, data_dir: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _csv(tmp_path, "id,name,url,lat,lon\nok,Ok,rtsp://h/s,1,2\nbad,Bad,rtsp://h/s,95,2\n")
    assert main(["cameras", "import", str(path)]) == 1, "refused rows make the exit status non-zero"
    out = capsys.readouterr().out
    assert "1 added" in out and "line 3: bad: lat 95.0 is outside [-90, 90]" in out
    assert set(_stored(settings)) == {"ok"}


def test_strict_import_writes_nothing_when_a_row_is_bad(
    tmp_path: Path, data_dir: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _csv(tmp_path, "id,name,url,lat,lon\nok,Ok,rtsp://h/s,1,2\nok,Dup,rtsp://h/t,1,2\n")
    assert main(["cameras", "import", str(path), "--strict", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["strict_refused"] is True and report["added"] == 0
    assert report["errors"] == [{"line": 3, "id": "ok", "error": "duplicate id, first on line 2"}]
    assert _stored(settings) == {}


def test_import_cli_names_missing_columns(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _csv(tmp_path, "id,name,lat,lon\nx,X,1,2\n")
    assert main(["cameras", "import", str(path)]) == 2
    assert "lacks column(s) url" in capsys.readouterr().err
    assert main(["cameras", "import", str(tmp_path / "nope.csv")]) == 2
    assert "not found" in capsys.readouterr().err
