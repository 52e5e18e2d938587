"""Signed checkpoints of the audit chain: an append-only JSONL file and the Ed25519 key that signs it.

The hash chain (``search/audit_chain.py``) shows any edit that is not followed by recomputing every
later hash; a checkpoint shows that rewrite too. Every ``search.audit_checkpoint_every`` records
(and on ``sightline audit checkpoint``) Sightline signs ``{last_id, last_hash, count, at}`` with a
private key kept outside the database and appends it to a file kept apart from it. Whoever can
rewrite the table but not read the key cannot produce a checkpoint that matches their rewrite; a
truncated tail shows against a checkpoint's ``last_id`` and ``count``.

Files (defaults beside the database; both configurable in the search settings)::

    <data_dir>/audit-checkpoints/checkpoints.jsonl     one signed checkpoint per line
    <data_dir>/audit-checkpoints/audit-ed25519.pub     the public key (PEM), all a verifier needs
    <data_dir>/keys/audit-ed25519.key                  the private key (PKCS#8 PEM), 0600, folder 0700

Each line is one JSON object (sorted keys, no whitespace)::

    {"at":"2026-…Z","count":200,"key":<sha256 of the raw public key>,"last_hash":…,"last_id":200,
     "prev":<sha256 of the previous line>,"seq":2,"sig":<base64 Ed25519 signature>,"v":1}

``sig`` signs ``b"sightline-audit-checkpoint-v1\\n"`` followed by the same object without ``sig``.
``seq`` and ``prev`` chain the lines themselves, so a line deleted from the middle of the file shows
too. Lines are appended under an exclusive ``flock`` (the CLI and the server may both write) and
fsynced; ``last_id`` never decreases from one line to the next.

The checkpoint file gains most when it leaves the machine (a log shipper, WORM storage): someone
who holds the database *and* this file can still delete the newest lines together with the records
they cover. Keep the key off the database's backups.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from search.audit_chain import GENESIS_HASH, encode_time
from search.settings import SearchSettings
from sightline.errors import StoreError

__all__ = [
    "CHECKPOINTS_FILE",
    "PUBLIC_KEY_FILE",
    "Checkpoint",
    "CheckpointLine",
    "CheckpointLog",
    "CheckpointWriter",
    "key_fingerprint",
    "load_public_key",
]

log = logging.getLogger(__name__)

CHECKPOINTS_FILE = "checkpoints.jsonl"
PUBLIC_KEY_FILE = "audit-ed25519.pub"
_DOMAIN = b"sightline-audit-checkpoint-v1\n"
_VERSION = 1
_TAIL_CHUNK = 4096


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_fingerprint(key: Ed25519PublicKey) -> str:
    """sha256 of the raw 32-byte public key, hex: what each line names as its ``key``."""
    return hashlib.sha256(_raw_public(key)).hexdigest()


def _public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The Ed25519 public key in a PEM file; StoreError when missing or not such a key."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except FileNotFoundError as exc:
        raise StoreError(f"no audit public key at {path}") from exc
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read the audit public key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise StoreError(f"{path} is not an Ed25519 public key")
    return key


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_private_key(path: Path) -> Ed25519PrivateKey:
    if path.stat().st_mode & 0o077:
        raise StoreError(f"audit key {path} is readable by others: chmod 600 it")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise StoreError(f"cannot read the audit key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise StoreError(f"{path} is not an Ed25519 private key")
    return key


def _read_or_create_private_key(path: Path) -> Ed25519PrivateKey:
    """The key in ``path``, created on first use (file 0600, new folders 0700).

    Written to a temporary file and linked into place, so a second process starting at the same
    moment either wins the link or reads the complete key the first one linked: never a half file.
    """
    try:
        return _read_private_key(path)
    except FileNotFoundError:
        pass
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".audit-key-")  # mkstemp creates 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                return _read_private_key(path)
        finally:
            os.unlink(tmp)
        _fsync_dir(path.parent)
    except OSError as exc:
        raise StoreError(f"cannot create the audit key {path}: {exc}") from exc
    log.info("audit: created the checkpoint signing key %s", path)
    return key


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One signed statement: "the chain had ``count`` records up to ``last_id``, ending in ``last_hash``"."""

    seq: int
    prev: str
    last_id: int
    last_hash: str
    count: int
    at: str
    key: str
    sig: str

    def signed_bytes(self) -> bytes:
        fields = asdict(self)
        del fields["sig"]
        fields["v"] = _VERSION
        return _DOMAIN + _dumps(fields).encode("utf-8")

    def line(self) -> bytes:
        """The JSONL line, without its newline."""
        return _dumps(asdict(self) | {"v": _VERSION}).encode("utf-8")

    def verify(self, public_key: Ed25519PublicKey) -> bool:
        try:
            public_key.verify(base64.b64decode(self.sig, validate=True), self.signed_bytes())
        except (InvalidSignature, ValueError):
            return False
        return True

    @classmethod
    def parse(cls, raw: bytes) -> Checkpoint:
        """A checkpoint from its line; ValueError when it is not one."""
        obj = json.loads(raw.decode("utf-8"))
        if not isinstance(obj, dict) or obj.get("v") != _VERSION:
            raise ValueError("not a version-1 checkpoint object")
        try:
            fields = {
                "seq": obj["seq"],
                "prev": obj["prev"],
                "last_id": obj["last_id"],
                "last_hash": obj["last_hash"],
                "count": obj["count"],
                "at": obj["at"],
                "key": obj["key"],
                "sig": obj["sig"],
            }
        except KeyError as exc:
            raise ValueError(f"field {exc} missing") from exc
        if set(obj) != set(fields) | {"v"}:
            raise ValueError(f"unexpected fields {sorted(set(obj) - set(fields) - {'v'})}")
        for name in ("seq", "last_id", "count"):
            if type(fields[name]) is not int:
                raise ValueError(f"{name} must be an integer")
        for name in ("prev", "last_hash", "at", "key", "sig"):
            if not isinstance(fields[name], str):
                raise ValueError(f"{name} must be a string")
        return cls(**fields)


@dataclass(frozen=True, slots=True)
class CheckpointLine:
    """A line of the file as read back: its number, raw bytes, and the checkpoint or why it is none."""

    number: int
    raw: bytes
    checkpoint: Checkpoint | None
    error: str | None = None


class CheckpointWriter:
    """Appends checkpoints while holding the file's lock (see :meth:`CheckpointLog.writer`)."""

    def __init__(self, fd: int, key: Ed25519PrivateKey, last: Checkpoint | None, last_raw: bytes) -> None:
        self._fd = fd
        self._key = key
        self._fingerprint = key_fingerprint(key.public_key())
        self.last = last
        self._last_raw = last_raw

    def append(self, last_id: int, last_hash: str, count: int) -> Checkpoint:
        """Sign and append one checkpoint after :attr:`last`; fsynced before returning."""
        if self.last is not None and last_id < self.last.last_id:
            raise StoreError(f"checkpoint for record {last_id} would go back from {self.last.last_id}")
        unsigned = Checkpoint(
            seq=(self.last.seq + 1) if self.last is not None else 1,
            prev=hashlib.sha256(self._last_raw).hexdigest() if self.last is not None else GENESIS_HASH,
            last_id=last_id,
            last_hash=last_hash,
            count=count,
            at=encode_time(datetime.now(UTC)),
            key=self._fingerprint,
            sig="",
        )
        sig = base64.b64encode(self._key.sign(unsigned.signed_bytes())).decode("ascii")
        checkpoint = Checkpoint(**(asdict(unsigned) | {"sig": sig}))
        raw = checkpoint.line()
        try:
            os.write(self._fd, raw + b"\n")
            os.fsync(self._fd)
        except OSError as exc:
            raise StoreError(f"cannot append the audit checkpoint: {exc}") from exc
        self.last, self._last_raw = checkpoint, raw
        return checkpoint


def _last_line(fd: int) -> bytes:
    """The file's last non-empty line, read backwards from the end (the file only grows)."""
    end = os.lseek(fd, 0, os.SEEK_END)
    buf = b""
    pos = end
    while pos > 0:
        step = min(_TAIL_CHUNK, pos)
        pos -= step
        buf = os.pread(fd, step, pos) + buf
        stripped = buf.rstrip(b"\n")
        if b"\n" in stripped:
            return stripped.rsplit(b"\n", 1)[1]
    return buf.rstrip(b"\n")


class CheckpointLog:
    """The checkpoint file, its public key beside it, and the private key that signs it."""

    def __init__(self, directory: Path, key_file: Path) -> None:
        self.directory = directory
        self.key_file = key_file
        self.path = directory / CHECKPOINTS_FILE
        self.public_key_file = directory / PUBLIC_KEY_FILE

    @classmethod
    def from_settings(cls, settings: SearchSettings) -> CheckpointLog:
        data_dir = Path(settings.data_dir)
        directory = settings.audit_checkpoint_dir or data_dir / "audit-checkpoints"
        key_file = settings.audit_key_file or data_dir / "keys" / "audit-ed25519.key"
        return cls(Path(directory), Path(key_file))

    def _ensure_public_key(self, key: Ed25519PrivateKey) -> None:
        """Write the public key beside the checkpoints, or check the one there is this key's."""
        pem = _public_pem(key.public_key())
        try:
            existing = self.public_key_file.read_bytes()
        except FileNotFoundError:
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".audit-pub-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(pem)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.chmod(tmp, 0o644)
                try:
                    os.link(tmp, self.public_key_file)
                except FileExistsError:
                    existing = self.public_key_file.read_bytes()
                else:
                    return
            finally:
                os.unlink(tmp)
        if existing != pem:
            raise StoreError(
                f"the audit public key {self.public_key_file} is not the signing key's ({self.key_file}): "
                "checkpoints signed now would not verify; restore the matching key"
            )

    @contextmanager
    def writer(self) -> Iterator[CheckpointWriter]:
        """The file locked for appending, the key loaded (created on first use), the last line read.

        StoreError when the last line cannot be chained to (unreadable, or not signed by this key):
        a new checkpoint must not paper over a damaged file; ``sightline audit verify`` says more.
        """
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            key = _read_or_create_private_key(self.key_file)
            self._ensure_public_key(key)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot open the audit checkpoints {self.path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = _last_line(fd)
            last: Checkpoint | None = None
            if raw:
                try:
                    last = Checkpoint.parse(raw)
                except ValueError as exc:
                    raise StoreError(f"the last line of {self.path} is not a checkpoint: {exc}") from exc
                if not last.verify(key.public_key()):
                    raise StoreError(f"the last line of {self.path} is not signed by {self.key_file}")
            yield CheckpointWriter(fd, key, last, raw)
        finally:
            os.close(fd)  # closing releases the flock

    def lines(self) -> list[CheckpointLine]:
        """Every line of the file, parsed (not verified); [] when there is no file yet."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(f"cannot read the audit checkpoints {self.path}: {exc}") from exc
        out: list[CheckpointLine] = []
        raw_lines = data.split(b"\n")
        if raw_lines and raw_lines[-1] == b"":
            raw_lines.pop()
        for number, raw in enumerate(raw_lines, start=1):
            try:
                out.append(CheckpointLine(number, raw, Checkpoint.parse(raw)))
            except (ValueError, UnicodeDecodeError) as exc:
                out.append(CheckpointLine(number, raw, None, str(exc)))
        return out

    def signing_public_key(self) -> Ed25519PublicKey | None:
        """The public half of the private key, when this process can read it (else None)."""
        try:
            return _read_private_key(self.key_file).public_key()
        except (OSError, StoreError):
            return None
