"""The API's error paths: the SightlineError → HTTP status table, upload guards and URL redaction.

Upload tests go through the real app (real backends, real store on a temporary directory) with
small limits; the status table is also checked on a bare app whose routes raise each error.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from auth_helpers import with_token
from fastapi import FastAPI
from PIL import Image as PILImage

from api.app import Services, create_app
from api.errors import install_error_handlers, status_for
from api.uploads import FORM_OVERHEAD_BYTES, decode_image
from recognition.registry import build_face_detector, build_face_embedder, build_vehicle_embedder
from search.services import SearchService
from sightline.errors import (
    ChecksumMismatch,
    ConfigError,
    ImageDecodeError,
    InputError,
    ModelError,
    NoFaceFound,
    NotFound,
    Overloaded,
    PatternError,
    ServiceUnavailable,
    SightlineError,
    StoreError,
    StreamError,
    UploadTooLarge,
)
from sightline.redact import redact_text, redact_url
from sightline.settings import Settings

MAX_BYTES = 64 * 1024
MAX_PIXELS = 500_000
AUDIT = {"case_ref": "C-1", "reason": "test"}


async def _call(app: FastAPI, method: str, url: str, **kwargs: Any) -> httpx.Response:
    kwargs["headers"] = with_token(app, method, url, kwargs.get("headers"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sightline.test") as c:
        return await c.request(method, url, **kwargs)


def call(app: FastAPI, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request through httpx's ASGI transport on a fresh event loop."""
    return asyncio.run(_call(app, method, url, **kwargs))


def _png(image: np.ndarray[Any, Any]) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


# --- the status table ---------------------------------------------------------------------------


_STORE_DETAIL = "the store or the index failed; retrying may help (details in the server log)"
_MODEL_DETAIL = "a recognition model is unavailable (details in the server log)"
_INTERNAL_DETAIL = "internal error; see the server log"


@pytest.mark.parametrize(
    ("error", "status", "detail"),
    [
        (PatternError("bad"), 400, "bad"),
        (UploadTooLarge("big"), 413, "big"),
        (NoFaceFound("none"), 422, "none"),
        (ImageDecodeError("corrupt"), 422, "corrupt"),
        (InputError("bad input"), 422, "bad input"),
        (NotFound("gone"), 404, "gone"),
        (ServiceUnavailable("no live ingest"), 503, "no live ingest"),
        (Overloaded("busy"), 503, "busy"),
        # Operator messages (SQL, paths, driver text) stay in the log; the body says what failed.
        (StoreError("db down: [SQL: SELECT 1] /var/db"), 503, _STORE_DETAIL),
        (ModelError("not prepared: /models/x.onnx"), 503, _MODEL_DETAIL),
        (ChecksumMismatch("sha"), 503, _MODEL_DETAIL),
        (StreamError("rtsp"), 500, _INTERNAL_DETAIL),
        (ConfigError("cfg"), 500, _INTERNAL_DETAIL),
        (SightlineError("other"), 500, _INTERNAL_DETAIL),
    ],
)
def test_error_tree_maps_to_status_and_body(error: SightlineError, status: int, detail: str) -> None:
    assert status_for(error) == status
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise error

    r = call(app, "GET", "/boom")
    assert r.status_code == status
    assert r.json() == {"error": type(error).__name__, "detail": detail}


def test_unexpected_errors_do_not_leak_their_message() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("/secret/path/in/message")

    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.get("/boom")

    r = asyncio.run(run())
    assert r.status_code == 500
    assert r.json()["error"] == "InternalError" and "secret" not in r.text


# --- decoding -----------------------------------------------------------------------------------


def _jpeg_bytes(w: int, h: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((h, w, 3), 128, np.uint8))
    assert ok
    return buf.tobytes()


def _rgba_png() -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGBA", (40, 30), (255, 0, 0, 128)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("payload", "shape", "error"),
    [
        (_jpeg_bytes(64, 48), (48, 64, 3), None),
        (_rgba_png(), (30, 40, 3), None),
        (_png(np.zeros((20, 30), np.uint8)), (20, 30, 3), None),
        (b"", None, "empty"),
        (b"hello, this is not an image at all", None, "not an image in a recognised format"),
        (_jpeg_bytes(64, 48)[:200], None, "corrupt"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 400, None, "not an image"),
        (_png(np.zeros((1000, 600), np.uint8)), None, "1000 = 600000 pixels, over the limit of 500000"),
    ],
)
def test_decode_image(payload: bytes, shape: tuple[int, ...] | None, error: str | None) -> None:
    if error is None:
        image = decode_image(payload, MAX_PIXELS)
        assert image.shape == shape and image.dtype == np.uint8
    else:
        with pytest.raises(ImageDecodeError, match=error):
            decode_image(payload, MAX_PIXELS)


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("rtsp://admin:s3cret@10.0.0.5:554/stream1", "rtsp://***@10.0.0.5:554/stream1"),
        ("rtsp://admin@10.0.0.5/s", "rtsp://***@10.0.0.5/s"),
        ("http://cam.local/video?user=a&password=p", "http://cam.local/video?user=***&password=***"),
        ("rtsp://u:p@[fe80::1]:554/s", "rtsp://***@[fe80::1]:554/s"),
        ("rtsp://10.0.0.5/stream", "rtsp://10.0.0.5/stream"),
        ("/data/videos/gate.mp4", "/data/videos/gate.mp4"),
        ("rtsp://u:p@host:notaport/s", "***"),
        (None, None),
        # Secret-looking query keys, any case; other keys and the path stay readable.
        (
            "http://h:8080/snap.jpg?api_key=K1&access_token=T1&pw=P1&channel=2",
            "http://h:8080/snap.jpg?api_key=***&access_token=***&pw=***&channel=2",
        ),
        ("http://h/s?PWD=x&Pass=y&Passwd=z&TOKEN=t", "http://h/s?PWD=***&Pass=***&Passwd=***&TOKEN=***"),
        ("http://h/s?apikey=a&key=b&secret=c&auth=d", "http://h/s?apikey=***&key=***&secret=***&auth=***"),
        ("https://h/s?signature=a&sig=b&credential=c", "https://h/s?signature=***&sig=***&credential=***"),
        ("https://h/s?credentials=a&X-Amz-Credential=b", "https://h/s?credentials=***&X-Amz-Credential=***"),
        ("http://h/s?admin_password=a&client-secret=b", "http://h/s?admin_password=***&client-secret=***"),
        ("http://h/s?token=YWJj==&x=1", "http://h/s?token=***&x=1"),
        # A user name alone is not a secret; paired with a password it is half of one.
        ("http://h/video?user=bob&channel=1", "http://h/video?user=bob&channel=1"),
        ("http://h/video?username=bob&pwd=x", "http://h/video?username=***&pwd=***"),
        ("http://h/video?password=&user=bob", "http://h/video?password=&user=bob"),
        # Path- and parameter-style credentials (Hikvision/Dahua paths, ;params).
        (
            "rtsp://10.0.0.5:554/user=admin_password=tlJwpbo6_channel=1_stream=0.sdp",
            "rtsp://10.0.0.5:554/user=***_password=***_channel=1_stream=0.sdp",
        ),
        ("rtsp://10.0.0.5/user=admin&password=pw9/live", "rtsp://10.0.0.5/user=***&password=***/live"),
        ("rtsp://10.0.0.5/live;user=bob;password=pw9", "rtsp://10.0.0.5/live;user=***;password=***"),
        ("rtsp://10.0.0.5/live;password=pw9?channel=1", "rtsp://10.0.0.5/live;password=***?channel=1"),
        ("rtsp://10.0.0.5/live#token=t", "rtsp://10.0.0.5/live#token=***"),
        # Userinfo and parameters together.
        ("rtsp://a:b@10.0.0.5/s?user=a&pw=b", "rtsp://***@10.0.0.5/s?user=***&pw=***"),
        # No scheme: a CSV cell or a message that dropped it.
        ("admin:s3cret@10.0.0.5:554/s1", "***@10.0.0.5:554/s1"),
        ("C:\\clips\\gate.mp4", "C:\\clips\\gate.mp4"),
    ],
)
def test_redact_url(url: str | None, redacted: str | None) -> None:
    assert redact_url(url) == redacted


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        (
            "cannot open rtsp://admin:s3cret@10.0.0.5:554/s: Connection refused",
            "cannot open rtsp://***@10.0.0.5:554/s: Connection refused",
        ),
        (
            "rtsp://10.0.0.5/user=admin_password=pw_channel=1: 401 Unauthorized",
            "rtsp://10.0.0.5/user=***_password=***_channel=1: 401 Unauthorized",
        ),
        ("GET http://h/a?access_token=T&x=1 failed", "GET http://h/a?access_token=***&x=1 failed"),
        ("login user=bob password=hunter2 refused", "login user=*** password=*** refused"),
        ("lat 'admin:s3cret@10.0.0.5/s1' is not a number", "lat '***@10.0.0.5/s1' is not a number"),
        ("no credentials here: user=bob, k=3", "no credentials here: user=bob, k=3"),
        ("", ""),
        (None, None),
    ],
)
def test_redact_text(text: str | None, redacted: str | None) -> None:
    assert redact_text(text) == redacted


# --- uploads through the app ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def services_parts(base_settings: Settings) -> tuple[Any, Any, Any]:
    return (
        build_face_detector(base_settings),
        build_face_embedder(base_settings),
        build_vehicle_embedder(base_settings),
    )


@pytest.fixture()
def app(settings: Settings, services_parts: tuple[Any, Any, Any]) -> Iterator[FastAPI]:
    data = settings.model_dump()
    data["api"] = {**data["api"], "max_upload_bytes": MAX_BYTES, "max_upload_pixels": MAX_PIXELS}
    small = Settings(**data)
    detector, embedder, vehicle = services_parts
    with SearchService.open(small.search, vehicle_dim=vehicle.dim) as service:
        yield create_app(small, Services(service, detector, embedder, vehicle))


def _upload(app: FastAPI, payload: bytes, name: str = "q.jpg", mime: str = "image/jpeg") -> httpx.Response:
    return call(app, "POST", "/api/search/vehicle", files={"image": (name, payload, mime)}, data=AUDIT)


@pytest.mark.parametrize(
    ("payload", "mime", "detail"),
    [
        (b"", "image/jpeg", "empty"),
        (b"%PDF-1.4 not a photo", "application/pdf", "not an image in a recognised format"),
        (_jpeg_bytes(64, 48)[:300], "image/jpeg", "corrupt"),
        (_png(np.zeros((1000, 600), np.uint8)), "image/png", "over the limit of 500000"),
    ],
)
def test_bad_images_are_422(app: FastAPI, payload: bytes, mime: str, detail: str) -> None:
    r = _upload(app, payload, mime=mime)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "ImageDecodeError"
    assert detail in r.json()["detail"]


def test_good_upload_is_searched(app: FastAPI) -> None:
    r = _upload(app, _jpeg_bytes(200, 150))
    assert r.status_code == 200, r.text
    assert r.json() == {"count": 0, "points": [], "cameras": []}


def test_upload_over_the_file_limit_is_413(app: FastAPI) -> None:
    """Over max_upload_bytes but within the body allowance: the chunked file read stops it."""
    payload = b"\xff\xd8" + b"\x00" * (MAX_BYTES + 10)
    r = _upload(app, payload)
    assert r.status_code == 413
    assert r.json()["error"] == "UploadTooLarge"
    assert f"larger than the limit of {MAX_BYTES} bytes" in r.json()["detail"]


def test_huge_upload_is_refused_from_its_content_length(app: FastAPI) -> None:
    r = _upload(app, b"\x00" * (MAX_BYTES + FORM_OVERHEAD_BYTES + 1))
    assert r.status_code == 413
    assert r.json()["error"] == "UploadTooLarge"


def test_huge_streamed_upload_stops_early(app: FastAPI) -> None:
    """A chunked body without Content-Length: reading stops once past the limit."""
    sent = 0
    chunk = b"\x00" * 16384
    total = 50 * (MAX_BYTES + FORM_OVERHEAD_BYTES)

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'--b\r\nContent-Disposition: form-data; name="image"; filename="x.jpg"\r\n\r\n'
        while sent < total:
            sent += len(chunk)
            yield chunk
        yield b"\r\n--b--\r\n"

    headers = {"content-type": "multipart/form-data; boundary=b"}
    r = call(app, "POST", "/api/search/vehicle", content=body(), headers=headers)
    assert r.status_code == 413
    assert r.json()["error"] == "UploadTooLarge"
    assert sent < 2 * (MAX_BYTES + FORM_OVERHEAD_BYTES)


def test_missing_image_is_422(app: FastAPI) -> None:
    r = call(app, "POST", "/api/search/face", data=AUDIT)
    assert r.status_code == 422
    assert r.json()["error"] == "InputError" and "image" in r.json()["detail"]


def test_naive_time_is_422(app: FastAPI) -> None:
    r = call(
        app,
        "GET",
        "/api/search/plate",
        params={**AUDIT, "pattern": "川A*", "since": "2024-05-01T08:00:00"},
    )
    assert r.status_code == 422 and "timezone-aware" in r.json()["detail"]
    r = call(
        app,
        "GET",
        "/api/search/plate",
        params={**AUDIT, "pattern": "川A*", "since": "2024-05-02T00:00:00Z", "until": "2024-05-01T00:00:00Z"},
    )
    assert r.status_code == 422 and "before since" in r.json()["detail"]
