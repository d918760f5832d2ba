"""Builders of Bot API update payloads for the fake server (``FakeBotApi.push_update``)."""

from __future__ import annotations

import time
from typing import Any

from tests.telegram.fake_bot_api import FakeBotApi


def user(user_id: int, first_name: str = "Ana", language: str | None = "en") -> dict[str, Any]:
    found: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if language is not None:
        found["language_code"] = language
    return found


def message(
    fake: FakeBotApi,
    chat_id: int,
    *,
    text: str | None = None,
    sender: dict[str, Any] | None = None,
    **content: Any,
) -> dict[str, Any]:
    """A new message in a private chat (``chat_id`` is the user's id) or a group."""
    sender = sender or user(chat_id)
    chat: dict[str, Any] = (
        {"id": chat_id, "type": "private", "first_name": sender["first_name"]}
        if chat_id > 0
        else {"id": chat_id, "type": "supergroup", "title": "Customers"}
    )
    body: dict[str, Any] = {
        "message_id": fake.next_message_id(chat_id),
        "from": sender,
        "chat": chat,
        "date": int(time.time()),
        **content,
    }
    if text is not None:
        body["text"] = text
    return body


def says(fake: FakeBotApi, chat_id: int, text: str, **options: Any) -> int:
    """The customer of ``chat_id`` writes ``text``; returns the message id."""
    body = message(fake, chat_id, text=text, **options)
    fake.push_update({"message": body})
    return int(body["message_id"])


def edits(fake: FakeBotApi, chat_id: int, message_id: int, text: str) -> None:
    body = {
        "message_id": message_id,
        "from": user(chat_id),
        "chat": {"id": chat_id, "type": "private", "first_name": "Ana"},
        "date": int(time.time()) - 5,
        "edit_date": int(time.time()),
        "text": text,
    }
    fake.push_update({"edited_message": body})


def sends_document(
    fake: FakeBotApi,
    chat_id: int,
    data: bytes,
    name: str,
    *,
    caption: str | None = None,
    mime_type: str = "application/pdf",
    size: int | None = None,
    sender: dict[str, Any] | None = None,
) -> int:
    stored = fake.add_file(data, path=f"documents/{name}", size=size)
    document = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_name": name,
        "mime_type": mime_type,
        "file_size": stored.size,
    }
    content: dict[str, Any] = {"document": document}
    if caption is not None:
        content["caption"] = caption
    body = message(fake, chat_id, sender=sender, **content)
    fake.push_update({"message": body})
    return int(body["message_id"])
