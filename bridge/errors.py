"""Every error the core raises or understands.

::

    BridgeError
    ├── InvalidInput            bad input from a customer, an agent or a platform (-> 400)
    │   └── TextTooLong         over MAX_TEXT_BYTES (-> 413)
    ├── NotFound                no such conversation, agent, token (-> 404)
    ├── Unauthorized            unknown or expired credentials (-> 401)
    ├── Forbidden               known caller, not allowed (-> 403)
    ├── Conflict                the state changed under the caller (-> 409)
    ├── InternalMessageRefused  an internal note reached a customer-facing path; never retried
    ├── StorageUnavailable      the database cannot be reached now (a restart); retry (-> 503)
    └── ChannelError            raised by adapters, mapped at the adapter edge from SDK errors
        ├── TransientChannelError   retry later, after ``retry_after`` seconds when given
        └── PermanentChannelError   the platform refused for good; agents are told the reason

Adapters map their SDK's exceptions to the two ChannelError kinds in one place; the core alone
decides about retries.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error raised by the bridge on purpose."""


class InvalidInput(BridgeError):
    """Input that cannot be accepted; the message says what is wrong, for the caller."""

    code = "invalid_input"


class TextTooLong(InvalidInput):
    code = "text_too_long"


class FileTooLarge(InvalidInput):
    """A file above the configured size limit."""

    code = "file_too_large"


class NotFound(BridgeError):
    code = "not_found"


class Unauthorized(BridgeError):
    code = "unauthorized"


class Forbidden(BridgeError):
    code = "forbidden"


class Conflict(BridgeError):
    code = "conflict"


class InternalMessageRefused(BridgeError):
    """An internal note was handed to a path that leads to a customer.

    This is the worst bug the product can have, so it is an error of its own that nothing
    catches to retry.
    """

    code = "internal_message_refused"


class StorageUnavailable(BridgeError):
    """The store cannot be reached for now (the database restarts, the network is down).

    Nothing was stored, so nothing may be acknowledged; callers answer "try again" (503, an
    error frame, a retried job), and a retry after the database is back succeeds.
    """

    code = "temporarily_unavailable"


class ChannelError(BridgeError):
    """A channel adapter could not do what was asked."""


class TransientChannelError(ChannelError):
    """Worth retrying: network trouble, 5xx, rate limits."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class PermanentChannelError(ChannelError):
    """Not worth retrying: the bot was blocked, the chat is gone, the request is invalid."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
