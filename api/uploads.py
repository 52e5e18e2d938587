"""Reading and decoding an uploaded image without trusting it.

Four guards, cheapest first:

1. :class:`BodySizeLimit` refuses a request body over the limit while it streams in (from its
   ``Content-Length`` when given, else by counting), so a huge upload is never spooled to disk.
2. :func:`read_upload` reads the file part in chunks and stops as soon as it passes the limit.
3. :func:`decode_image` reads only the image header first (Pillow) and refuses unknown formats and
   absurd dimensions before OpenCV allocates the decoded pixels, then decodes with OpenCV (which
   applies EXIF orientation, as phone photos need).
4. :class:`DecodeSlots` bounds how many decodes run at once (``api.max_concurrent_decodes``): each
   may allocate up to 3 bytes per pixel of ``api.max_upload_pixels``, so without a bound a burst of
   large photos multiplies that by the number of server threads. An upload that finds every slot
   busy waits up to ``api.decode_wait_s`` and is then refused with 503 (Overloaded).
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import cv2
import numpy as np
from fastapi import Depends, File, Request, UploadFile
from PIL import Image as PILImage
from PIL import UnidentifiedImageError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recognition.base import Image
from sightline.errors import ImageDecodeError, Overloaded, UploadTooLarge
from sightline.settings import Settings

__all__ = [
    "FORM_OVERHEAD_BYTES",
    "BodySizeLimit",
    "BoundedUpload",
    "DecodeSlots",
    "bounded_upload",
    "decode_image",
    "read_upload",
]

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024

FORM_OVERHEAD_BYTES = 64 * 1024
"""Room for the form fields and multipart boundaries around the image in a request body."""


async def read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    """The uploaded file's bytes; raises UploadTooLarge as soon as more than ``max_bytes`` arrive."""
    parts: list[bytes] = []
    total = 0
    while chunk := await upload.read(_CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise UploadTooLarge(
                f"upload {upload.filename or ''!r} is larger than the limit of {max_bytes} bytes "
                "(api.max_upload_bytes)"
            )
        parts.append(chunk)
    if total == 0:
        raise ImageDecodeError(f"upload {upload.filename or ''!r} is empty")
    return b"".join(parts)


def decode_image(data: bytes, max_pixels: int) -> Image:
    """Decode an uploaded image to BGR uint8 [H, W, 3]; raises ImageDecodeError naming the problem."""
    if not data:
        raise ImageDecodeError("the image is empty")
    try:
        with PILImage.open(io.BytesIO(data)) as header:
            fmt = header.format or "unknown"
            width, height = header.size
    except UnidentifiedImageError as exc:
        raise ImageDecodeError("the upload is not an image in a recognised format (JPEG, PNG, ...)") from exc
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as exc:
        # Pillow's own bomb check fires above ~89 MP, beyond our limit anyway.
        raise ImageDecodeError(f"the image has too many pixels (limit {max_pixels}): {exc}") from exc
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow's header parsers raise these on corruption
        raise ImageDecodeError(f"the image header is corrupt: {exc}") from exc
    if width <= 0 or height <= 0:
        raise ImageDecodeError(f"the image has zero size ({width}x{height})")
    if width * height > max_pixels:
        raise ImageDecodeError(
            f"the image is {width}x{height} = {width * height} pixels, over the limit of {max_pixels} "
            "(api.max_upload_pixels)"
        )
    try:
        decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise ImageDecodeError(f"the {fmt} image cannot be decoded: {exc}") from exc
    if decoded is None or decoded.size == 0:
        raise ImageDecodeError(f"the {fmt} image is corrupt and cannot be decoded")
    image: Image = np.ascontiguousarray(decoded, dtype=np.uint8)
    log.debug("decoded %s upload %dx%d", fmt, width, height)
    return image


class DecodeSlots:
    """At most ``limit`` image decodes at once; a decode that finds none free waits ``wait_s``, then
    raises Overloaded. One per app (``create_app`` puts it on ``app.state.decode_slots``).

    A plain thread semaphore: decodes run in the server's thread pool, and the wait, the decode and
    the release happen in one call on that thread (:meth:`decode`), so a client that disconnects
    while waiting cannot leave a slot taken.
    """

    def __init__(self, limit: int, wait_s: float) -> None:
        if limit < 1:
            raise ValueError(f"DecodeSlots: limit must be at least 1, got {limit}")
        if not wait_s >= 0:
            raise ValueError(f"DecodeSlots: wait_s must be >= 0, got {wait_s}")
        self.limit = limit
        self.wait_s = wait_s
        self._slots = threading.BoundedSemaphore(limit)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the ``with`` block; Overloaded when none frees within ``wait_s``."""
        if not self._slots.acquire(timeout=self.wait_s):
            raise Overloaded(
                f"the server is decoding {self.limit} uploaded photos already "
                f"(api.max_concurrent_decodes) and none finished within {self.wait_s:g} s; retry shortly"
            )
        try:
            yield
        finally:
            self._slots.release()

    def decode(self, data: bytes, max_pixels: int) -> Image:
        """:func:`decode_image` inside a slot; blocks the calling thread while it waits."""
        with self.slot():
            return decode_image(data, max_pixels)


async def bounded_upload(
    request: Request,
    image: Annotated[UploadFile, File(description="The query photo (JPEG, PNG, ...).")],
) -> Image:
    """The uploaded photo: size-checked while read, then decoded off the event loop in a decode slot."""
    settings: Settings = request.app.state.settings
    slots: DecodeSlots = request.app.state.decode_slots
    data = await read_upload(image, settings.api.max_upload_bytes)
    return await run_in_threadpool(slots.decode, data, settings.api.max_upload_pixels)


BoundedUpload = Annotated[Image, Depends(bounded_upload)]
"""A route parameter holding the decoded upload (the ``image`` form field), decodes bounded."""


class _BodyTooLarge(Exception):
    """Raised into the app from ``receive`` once the body passes the limit."""


class BodySizeLimit:
    """ASGI middleware refusing request bodies over ``max_bytes`` with 413, before they are spooled.

    A body announced too large by ``Content-Length`` is refused without reading it. A streamed body
    is counted; once it passes the limit the rest is not read and the answer is 413 whatever the
    route would have said (FastAPI turns a failed body read into 400).
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None and length > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        over = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, over
            if over:
                raise _BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    over = True
                    # Raising (rather than ending the body) makes the form parser close the
                    # temporary files it has opened so far.
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over:
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await self._refuse(send)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _BodyTooLarge:
            if started:
                raise
            started = True
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "error": "UploadTooLarge",
                "detail": f"request body is larger than the limit of {self.max_bytes} bytes "
                "(api.max_upload_bytes plus form overhead)",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
