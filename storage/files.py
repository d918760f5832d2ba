"""Attachment bytes in a local folder (``var/files`` by default), named by their SHA-256.

Content addressing makes saving the same file twice free and a name from a customer never
becomes a path. The key is checked before it is joined to the folder, so a crafted key cannot
read outside it.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from pathlib import Path

from bridge.errors import FileTooLarge, NotFound
from bridge.model import Attachment

_KEY = re.compile(r"^[0-9a-f]{64}$")
MAX_NAME = 200


class LocalFileStore:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self._root = root
        self._max_bytes = max_bytes

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    async def save(self, data: bytes, *, name: str, content_type: str) -> Attachment:
        if len(data) > self._max_bytes:
            raise FileTooLarge(
                f"{name or 'the file'} is {len(data)} bytes; the limit is {self._max_bytes} bytes"
            )
        key = hashlib.sha256(data).hexdigest()
        await asyncio.to_thread(self._write, key, data)
        return Attachment(
            name=_clean_name(name),
            content_type=content_type or "application/octet-stream",
            size=len(data),
            storage_key=key,
        )

    async def read(self, storage_key: str) -> bytes:
        path = self._path(storage_key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise NotFound(f"no file {storage_key}") from None

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise NotFound(f"no file {key[:80]!r}")
        return self._root / key[:2] / key

    def _write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a crash never leaves half a file under the final name.
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _clean_name(name: str) -> str:
    """A display name: no folders, no control characters, bounded length."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip()
    return cleaned[:MAX_NAME] or "file"
