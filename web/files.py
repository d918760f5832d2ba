"""Attachments through the agent API: upload, download, and reading them off a request.

Uploads are streamed with their own size limit (the store's), not the app-wide body limit, so
a 20 MB file does not raise the limit for every JSON route. Downloads are always served as
attachments with ``nosniff``: an uploaded HTML file must never render as a page of ours.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from aiohttp import BodyPartReader, web

from bridge.errors import FileTooLarge, InvalidInput, NotFound
from bridge.model import Attachment
from bridge.ports import FileStore

MAX_ATTACHMENTS = 10
_CHUNK = 64 * 1024


async def _read_limited(read: Any, limit: int, name: str) -> bytes:
    data = bytearray()
    while chunk := await read(_CHUNK):
        data += chunk
        if len(data) > limit:
            raise FileTooLarge(f"{name} is larger than the limit of {limit} bytes")
    return bytes(data)


class FileRoutes:
    def __init__(self, files: FileStore) -> None:
        self._files = files

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/files", self.upload),
            web.get(r"/api/files/{key}", self.download),
        ]

    async def upload(self, request: web.Request) -> web.Response:
        """``multipart/form-data`` with a ``file`` field, or the raw bytes with ``?name=``."""
        limit = self._files.max_bytes
        if request.content_type == "multipart/form-data":
            try:
                reader = await request.multipart()
            except ValueError as error:  # no boundary, a broken header
                raise InvalidInput(f"the form cannot be read: {error}") from None
            part = await reader.next()
            while part is not None and (
                not isinstance(part, BodyPartReader) or part.name != "file"
            ):
                part = await reader.next()
            if part is None:
                raise InvalidInput('the form has no "file" field')
            name = part.filename or "file"
            content_type = part.headers.get("Content-Type", "") or _guess(name)
            data = await _read_limited(part.read_chunk, limit, name)
        else:
            name = request.query.get("name", "").strip()
            if not name:
                raise InvalidInput('give the file\'s name as "?name=" (or send a form)')
            content_type = request.content_type
            if content_type in ("", "application/octet-stream"):
                content_type = _guess(name)
            data = await _read_limited(request.content.read, limit, name)
        if not data:
            raise InvalidInput("the file is empty")
        attachment = await self._files.save(data, name=name, content_type=content_type)
        return web.json_response(stored_json(attachment), status=201)

    async def download(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        data = await self._files.read(key)
        name = request.query.get("name", "file").replace('"', "")
        return web.Response(
            body=data,
            content_type="application/octet-stream",
            headers={
                "Content-Disposition": f'attachment; filename="{_ascii(name)}"',
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "private, max-age=3600",
            },
        )


def stored_json(a: Attachment) -> dict[str, Any]:
    return {
        "key": a.storage_key,
        "name": a.name,
        "content_type": a.content_type,
        "size": a.size,
        "url": f"/api/files/{a.storage_key}",
    }


async def attachments_from(value: object, files: FileStore) -> tuple[Attachment, ...]:
    """The ``attachments`` of a message body: files uploaded before, named by their key."""
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_ATTACHMENTS:
        raise InvalidInput(f'"attachments" must be a list of at most {MAX_ATTACHMENTS} files')
    found = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise InvalidInput('each attachment must be {"key": ..., "name": ...} from /api/files')
        key = item["key"]
        try:
            size = len(await files.read(key))
        except NotFound:
            raise InvalidInput(f"no uploaded file {key[:80]!r}") from None
        name = item.get("name") if isinstance(item.get("name"), str) else "file"
        content_type = item.get("content_type")
        if not isinstance(content_type, str) or not content_type:
            content_type = _guess(str(name))
        found.append(Attachment(str(name)[:200], content_type[:200], size, key))
    return tuple(found)


def _guess(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _ascii(name: str) -> str:
    return "".join(ch if 32 <= ord(ch) < 127 else "_" for ch in name)[:200] or "file"
