"""The fake Bot API's sending methods: sendMessage, sendDocument, sendPhoto, editMessageText,
getFile (https://core.telegram.org/bots/api#available-methods), with Telegram's refusals."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from tests.telegram.fake_records import (
    DOWNLOAD_LIMIT,
    MAX_CAPTION,
    MAX_TEXT,
    ApiError,
    Call,
    SentMessage,
    StoredFile,
    Upload,
)


def utf16(text: str) -> int:
    """Telegram counts text in UTF-16 code units, like its entity offsets."""
    return len(text.encode("utf-16-le")) // 2


class MessageMethods:
    """Mixed into :class:`FakeBotApi`, whose state these methods read and change."""

    sent: list[SentMessage]
    _files: dict[str, StoredFile]
    _file_numbers: itertools.count[int]
    _last_message_id: dict[int, int]

    def next_message_id(self, chat_id: int) -> int:
        """Message ids count up per chat, for the customer's and the bot's messages alike."""
        self._last_message_id[chat_id] = self._last_message_id.get(chat_id, 0) + 1
        return self._last_message_id[chat_id]

    def add_file(
        self, data: bytes, *, path: str = "documents/file.bin", size: int | None = None
    ) -> StoredFile:
        number = next(self._file_numbers)
        stored = StoredFile(
            file_id=f"FILE{number}",
            file_unique_id=f"U{number}",
            file_path=f"{number}/{path}",
            data=data,
            size=len(data) if size is None else size,
        )
        self._files[stored.file_id] = stored
        return stored

    def bot_user(self) -> dict[str, Any]:
        raise NotImplementedError

    def _chat(self, call: Call) -> int:
        chat_id = call.params.get("chat_id")
        if not isinstance(chat_id, int):
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _reply_to(self, call: Call, chat_id: int) -> int | None:
        reply = call.params.get("reply_parameters")
        if reply is None:
            return None
        if not isinstance(reply, dict) or not isinstance(reply.get("message_id"), int):
            raise ApiError(400, "Bad Request: invalid reply parameters")
        target = int(reply["message_id"])
        known = 0 < target <= self._last_message_id.get(chat_id, 0)
        if not known and not reply.get("allow_sending_without_reply"):
            raise ApiError(400, "Bad Request: message to be replied not found")
        return target

    def _message(self, sent: SentMessage) -> dict[str, Any]:
        chat_type = "private" if sent.chat_id > 0 else "supergroup"
        body: dict[str, Any] = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": {"id": sent.chat_id, "type": chat_type},
            "from": self.bot_user(),
        }
        if sent.kind == "text":
            body["text"] = sent.edits[-1] if sent.edits else sent.text
        elif sent.text:
            body["caption"] = sent.text
        if sent.reply_to is not None:
            body["reply_to_message"] = {
                "message_id": sent.reply_to,
                "date": int(time.time()),
                "chat": {"id": sent.chat_id, "type": chat_type},
            }
        if sent.upload is not None:
            stored = self.add_file(sent.upload.data, path=f"{sent.kind}s/{sent.upload.filename}")
            meta = {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_size": stored.size,
            }
            if sent.kind == "photo":
                body["photo"] = [{**meta, "width": 640, "height": 480}]
            else:
                body["document"] = {
                    **meta,
                    "file_name": sent.upload.filename,
                    "mime_type": sent.upload.content_type,
                }
        return body

    async def _send_message(self, call: Call) -> dict[str, Any]:
        chat_id = self._chat(call)
        text = call.params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        reply_to = self._reply_to(call, chat_id)
        sent = SentMessage(
            chat_id,
            self.next_message_id(chat_id),
            "text",
            text,
            call.at,
            reply_to=reply_to,
            parse_mode=call.params.get("parse_mode"),
            reply_markup=_markup(call.params.get("reply_markup")),
            key=call.key,
        )
        self.sent.append(sent)
        return self._message(sent)

    def _upload(self, call: Call, field_name: str) -> Upload:
        value = call.params.get(field_name)
        if isinstance(value, str) and value.startswith("attach://"):
            upload = call.files.get(value.removeprefix("attach://"))
        else:
            upload = call.files.get(field_name)
        if upload is None and isinstance(value, str) and value in self._files:
            stored = self._files[value]
            upload = Upload(
                stored.file_path.rsplit("/", 1)[-1], "application/octet-stream", stored.data
            )
        if upload is None:
            raise ApiError(400, f"Bad Request: there is no {field_name} in the request")
        return upload

    async def _send_file(self, call: Call, kind: str) -> dict[str, Any]:
        chat_id = self._chat(call)
        upload = self._upload(call, kind)
        caption = str(call.params.get("caption") or "")
        if len(caption) > MAX_CAPTION:
            raise ApiError(400, "Bad Request: message caption is too long")
        reply_to = self._reply_to(call, chat_id)
        sent = SentMessage(
            chat_id,
            self.next_message_id(chat_id),
            kind,
            caption,
            call.at,
            upload=upload,
            reply_to=reply_to,
            key=call.key,
        )
        self.sent.append(sent)
        return self._message(sent)

    async def _send_document(self, call: Call) -> dict[str, Any]:
        return await self._send_file(call, "document")

    async def _send_photo(self, call: Call) -> dict[str, Any]:
        return await self._send_file(call, "photo")

    async def _edit_message_text(self, call: Call) -> dict[str, Any]:
        chat_id = self._chat(call)
        message_id = call.params.get("message_id")
        text = call.params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        target = self.find(chat_id, message_id) if isinstance(message_id, int) else None
        if target is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if target.kind != "text":
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        current = target.edits[-1] if target.edits else target.text
        if current == text:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup of "
                "the message",
            )
        target.edits.append(text)
        return self._message(target)

    async def _get_file(self, call: Call) -> dict[str, Any]:
        stored = self._files.get(str(call.params.get("file_id", "")))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if stored.size > DOWNLOAD_LIMIT:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.file_path,
        }


def _markup(value: object) -> dict[str, Any] | None:
    """``reply_markup`` arrives as a JSON string in forms, an object in JSON bodies."""
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else None
