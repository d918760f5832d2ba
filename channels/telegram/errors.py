"""aiogram's exceptions mapped, in one place, to the two kinds the core understands.

aiogram's session already turns every Bot API answer into one typed exception
(``aiogram.client.session.base.BaseSession.check_response``); this module decides what each
means for a delivery:

* transient (retry, after ``retry_after`` when Telegram gave one): 429 flood control,
  5xx and "restarting", network errors and timeouts, an undecodable answer (a proxy's HTML
  error page), 409 (another poller), 401 (the token is wrong, which an operator can fix: the
  delivery waits for it instead of failing);
* permanent (the agent is told why): 403 (the customer blocked the bot or left), 400 (the
  request is invalid: chat not found, message too long, ...), 404, 413, a group that became a
  supergroup.

Descriptions are Telegram's own ("Forbidden: bot was blocked by the user"); they name no
customer data, so they are safe to show agents and to log. Network errors are named by kind
only: aiohttp's messages may quote the request URL, which holds the bot token.
"""

from __future__ import annotations

import asyncio

import aiohttp
from aiogram.exceptions import (
    AiogramError,
    ClientDecodeError,
    RestartingTelegram,
    TelegramAPIError,
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

from bridge.errors import PermanentChannelError, TransientChannelError

#: How long to wait before trying again with a token Telegram refused.
UNAUTHORIZED_RETRY = 60.0
#: Exceptions worth mapping; anything else is a bug and propagates as it is.
MAPPED: tuple[type[BaseException], ...] = (
    AiogramError,
    aiohttp.ClientError,
    asyncio.TimeoutError,
)


def channel_error(error: BaseException) -> TransientChannelError | PermanentChannelError:
    """The core's view of an aiogram, aiohttp or timeout error."""
    if isinstance(error, TelegramRetryAfter):
        return TransientChannelError(
            f"Telegram's flood control: retry after {error.retry_after} s",
            retry_after=float(error.retry_after),
        )
    if isinstance(error, TelegramForbiddenError):
        return PermanentChannelError(
            f"Telegram refused (403): the customer blocked the bot or left the chat "
            f"({_description(error)})"
        )
    if isinstance(error, TelegramMigrateToChat):
        return PermanentChannelError(
            f"the group became a supergroup with id {error.migrate_to_chat_id}; "
            "its conversation cannot be continued in the old chat"
        )
    if isinstance(error, TelegramEntityTooLarge):
        return PermanentChannelError("Telegram refused (413): the file is too large for a bot")
    if isinstance(error, TelegramBadRequest):
        return PermanentChannelError(f"Telegram refused (400): {_description(error)}")
    if isinstance(error, TelegramNotFound):
        return PermanentChannelError(f"Telegram refused (404): {_description(error)}")
    if isinstance(error, TelegramUnauthorizedError):
        return TransientChannelError(
            "Telegram refused the bot token (401): check channels.telegram.token",
            retry_after=UNAUTHORIZED_RETRY,
        )
    if isinstance(error, RestartingTelegram | TelegramServerError):
        return TransientChannelError(f"Telegram is unavailable: {_description(error)}")
    if isinstance(error, TelegramConflictError):
        return TransientChannelError(f"Telegram reports a conflict: {_description(error)}")
    if isinstance(error, TelegramNetworkError):
        # Only the kind of failure: aiohttp's text may quote the URL, and the URL the token.
        kind = error.message.split(":", 1)[0]
        return TransientChannelError(f"network error talking to Telegram: {kind}")
    if isinstance(error, ClientDecodeError):
        return TransientChannelError("Telegram's answer could not be read (a proxy error page?)")
    if isinstance(error, TelegramAPIError):
        return TransientChannelError(f"Telegram error: {_description(error)}")
    if isinstance(error, asyncio.TimeoutError):
        return TransientChannelError("Telegram did not answer in time")
    if isinstance(error, aiohttp.ClientError):
        return TransientChannelError(f"network error talking to Telegram: {type(error).__name__}")
    return TransientChannelError(f"unexpected {type(error).__name__} from the Telegram client")


def _description(error: TelegramAPIError) -> str:
    return error.message


def is_not_modified(error: BaseException) -> bool:
    """Telegram's 400 for an edit that changes nothing: the message already says it."""
    return isinstance(error, TelegramBadRequest) and "message is not modified" in error.message
