"""The fake Bot API's vocabulary: what it records, the failures it can be told to give, and how
it reads form fields (aiogram sends every parameter as a form field, structured ones as JSON;
https://core.telegram.org/bots/api#making-requests)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

#: The bridge's idempotency key of one sent part (channels/telegram/session.py). Telegram has
#: no such thing; the fake honours it as a deduplicating Bot API server in front would.
IDEMPOTENCY_HEADER = "X-Bridge-Idempotency-Key"
DOWNLOAD_LIMIT = 20 * 1024 * 1024
MAX_TEXT = 4096
MAX_CAPTION = 1024
#: Methods that send a message to a chat and count against the flood limits.
MESSAGE_METHODS = frozenset(
    {
        "sendmessage",
        "senddocument",
        "sendphoto",
        "sendvideo",
        "sendaudio",
        "sendvoice",
        "sendsticker",
        "sendlocation",
        "sendcontact",
        "editmessagetext",
    }
)
INT_FIELDS = frozenset(
    {"chat_id", "message_id", "offset", "limit", "timeout", "max_connections", "user_id"}
)
JSON_FIELDS = frozenset(
    {
        "reply_parameters",
        "allowed_updates",
        "reply_markup",
        "link_preview_options",
        "entities",
        "caption_entities",
        "commands",
    }
)
BOOL_FIELDS = frozenset({"drop_pending_updates", "disable_notification", "protect_content"})


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Call:
    method: str  # as in the URL, e.g. "sendMessage"
    params: dict[str, Any]
    files: dict[str, Upload]
    at: float
    status: int = 200
    description: str = ""
    #: For getUpdates: the update ids it returned.
    update_ids: list[int] = field(default_factory=list)
    #: For a 429 from the flood limits: which one ("bot" or "chat").
    limited_by: str = ""
    #: The X-Bridge-Idempotency-Key it carried, and whether that key had succeeded before (the
    #: call was then answered with the first result and nothing was sent).
    key: str | None = None
    repeated: bool = False

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return value if isinstance(value, int) else None


@dataclass
class SentMessage:
    chat_id: int
    message_id: int
    kind: str  # "text", "document" or "photo"
    text: str  # the text, or the caption of a file
    at: float
    upload: Upload | None = None
    reply_to: int | None = None
    parse_mode: str | None = None
    edits: list[str] = field(default_factory=list)
    reply_markup: dict[str, Any] | None = None
    key: str | None = None  # the idempotency key it was sent with


@dataclass
class Failure:
    """Answer the next ``times`` calls of ``method`` (any method when None; only those to
    ``chat_id`` when set) with this error."""

    method: str | None
    code: int
    description: str
    retry_after: int | None = None
    times: int = 1
    chat_id: int | None = None
    after: int = 0  # matching calls that pass first


@dataclass(frozen=True)
class Limits:
    per_bot_per_second: int = 30
    per_chat_per_second: int = 1
    per_group_per_minute: int = 20


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    size: int


def decode(name: str, value: str) -> Any:
    if name in INT_FIELDS:
        try:
            return int(value)
        except ValueError:
            return value
    if name in JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError(400, f"Bad Request: can't parse {name} JSON object") from None
    if name in BOOL_FIELDS:
        return value.lower() == "true"
    return value
