"""Every error aiogram raises maps to one of the core's two kinds, with a reason agents read."""

from __future__ import annotations

import aiohttp
import pytest
from aiogram.exceptions import (
    ClientDecodeError,
    RestartingTelegram,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import SendMessage

from bridge.errors import PermanentChannelError, TransientChannelError
from channels.telegram.errors import channel_error, is_not_modified

METHOD = SendMessage(chat_id=1, text="x")


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            TelegramForbiddenError(METHOD, "Forbidden: bot was blocked by the user"),
            "the customer blocked the bot or left the chat (Forbidden: bot was blocked by the "
            "user)",
        ),
        (
            TelegramBadRequest(METHOD, "Bad Request: chat not found"),
            "Telegram refused (400): Bad Request: chat not found",
        ),
        (TelegramNotFound(METHOD, "Not Found"), "Telegram refused (404): Not Found"),
        (TelegramEntityTooLarge(METHOD, "Request Entity Too Large"), "too large"),
        (TelegramMigrateToChat(METHOD, "migrated", migrate_to_chat_id=-100123), "-100123"),
    ],
)
def test_refusals_are_permanent(error: Exception, reason: str) -> None:
    mapped = channel_error(error)
    assert isinstance(mapped, PermanentChannelError)
    assert reason in mapped.reason


@pytest.mark.parametrize(
    ("error", "retry_after"),
    [
        (TelegramRetryAfter(METHOD, "Too Many Requests: retry after 7", retry_after=7), 7.0),
        (TelegramServerError(METHOD, "Bad Gateway"), None),
        (RestartingTelegram(METHOD, "Internal Server Error: restart"), None),
        (TelegramNetworkError(METHOD, "ClientConnectorError: refused"), None),
        (TelegramConflictError(METHOD, "Conflict: terminated by other getUpdates"), None),
        (TelegramUnauthorizedError(METHOD, "Unauthorized"), 60.0),
        (ClientDecodeError("Failed to decode object", ValueError("x"), "<html>"), None),
        (TimeoutError(), None),
        (aiohttp.ServerDisconnectedError(), None),
    ],
)
def test_what_may_pass_is_transient(error: Exception, retry_after: float | None) -> None:
    mapped = channel_error(error)
    assert isinstance(mapped, TransientChannelError)
    assert mapped.retry_after == retry_after


def test_a_decode_error_does_not_repeat_the_answer() -> None:
    """aiogram's message for it quotes the whole answer, which may hold customers' messages."""
    error = ClientDecodeError("Failed to decode object", ValueError("x"), {"text": "secret"})
    assert "secret" not in channel_error(error).reason


def test_an_unchanged_edit_is_recognised() -> None:
    assert is_not_modified(
        TelegramBadRequest(METHOD, "Bad Request: message is not modified: specified new ...")
    )
    assert not is_not_modified(TelegramBadRequest(METHOD, "Bad Request: chat not found"))
