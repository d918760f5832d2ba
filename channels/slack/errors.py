"""Every Slack failure, sorted in one place, and what the channel's health says about them.

::

    Failure.kind
    ├── ratelimited   HTTP 429 with Retry-After: wait that long, then try again
    ├── transient     network trouble, 5xx, Slack's internal errors: try again with backoff
    ├── setup         the token, a scope or a channel is wrong: nothing works until a person
    │                 fixes it; /readyz and the log say how (invalid_auth, missing_scope,
    │                 channel_not_found, not_in_channel, is_archived, ...)
    └── refused       this one request will never work (msg_too_long, message_not_found, ...)

Error codes: https://docs.slack.dev/reference/methods/chat.postMessage#errors and
https://docs.slack.dev/apis/web-api/#errors. ``str(SlackApiError)`` quotes the whole response,
so logs carry the error code only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError

from bridge.errors import ChannelError, PermanentChannelError, TransientChannelError
from bridge.ports import ComponentState, Health

log = logging.getLogger(__name__)

_AUTH = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "team_access_not_granted",
        "ekm_access_denied",
    }
)
_CHANNEL = frozenset({"channel_not_found", "not_in_channel", "is_archived"})
_SETUP = _AUTH | _CHANNEL | {"missing_scope"}
_TRANSIENT = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)
#: A rate limit shows on /readyz until a call to the same place succeeds, or for this long
#: after its Retry-After when no call comes again.
LIMIT_SHOWN_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Failure:
    kind: Literal["ratelimited", "transient", "setup", "refused"]
    code: str
    retry_after: float | None = None
    #: For setup failures: what a person has to do, in one sentence.
    advice: str = ""
    channel: str | None = None
    method: str | None = None

    def as_channel_error(self) -> ChannelError:
        reason = self.advice or f"Slack refused: {self.code}"
        if self.kind == "ratelimited":
            wait = f"retry after {self.retry_after:g} s" if self.retry_after is not None else ""
            reason = f"rate limited by Slack (HTTP 429): {wait or 'retrying'}"
        if self.kind in ("ratelimited", "transient"):
            return TransientChannelError(reason, retry_after=self.retry_after)
        return PermanentChannelError(reason)


def classify(
    error: BaseException,
    *,
    channel: str | None = None,
    bot: str = "the bot",
    method: str | None = None,
) -> Failure:
    """Sort any exception a Web API call raised; unknown ones count as transient."""
    if isinstance(error, SlackApiError):
        response = error.response
        status = int(getattr(response, "status_code", 200) or 200)
        data = getattr(response, "data", None)
        code = str(data.get("error", "")) if isinstance(data, dict) else ""
        if status == 429 or code == "ratelimited":
            return Failure("ratelimited", "ratelimited", _retry_after(response), channel=channel)
        if status >= 500 or code in _TRANSIENT or not code:
            return Failure("transient", code or f"http_{status}", channel=channel)
        if code in _SETUP:
            needed = data.get("needed") if isinstance(data, dict) else None
            return Failure(
                "setup",
                code,
                advice=advice(code, channel, bot, needed),
                channel=channel,
                method=method,
            )
        return Failure("refused", code, channel=channel)
    if isinstance(error, aiohttp.ClientError | asyncio.TimeoutError | SlackClientError):
        return Failure("transient", type(error).__name__, channel=channel)
    return Failure("transient", type(error).__name__, channel=channel)


def _retry_after(response: object) -> float:
    headers = getattr(response, "headers", None) or {}
    for key, value in dict(headers).items():
        if str(key).lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                break
    return 1.0


def advice(code: str, channel: str | None, bot: str = "the bot", needed: object = None) -> str:
    """What to do about a setup failure, for /readyz and the log."""
    where = channel or "the channel"
    if code in _AUTH:
        return (
            f"Slack refused the bot token ({code}): set channels.slack.bot_token to the app's "
            "Bot User OAuth Token (xoxb-...) and restart"
        )
    if code == "missing_scope":
        scope = f" {needed}" if needed else ""
        return (
            f"the Slack app lacks the scope{scope}: add it under OAuth & Permissions "
            "(config/slack-app-manifest.yml lists every scope) and reinstall the app"
        )
    if code == "not_in_channel":
        return f"the bot is not in {where}: type /invite @{bot} in that channel"
    if code == "is_archived":
        return f"Slack channel {where} is archived: unarchive it or configure another channel"
    if code == "channel_not_found":
        return (
            f"Slack channel {where} was not found: check the channel id in [channels.slack]; "
            f"for a private channel, /invite @{bot} there first"
        )
    return f"Slack refused the request ({code})"


def log_failure(logger: logging.Logger, error: BaseException, what: str) -> None:
    """Log an unexpected error by its type only (errors may quote a message's text or a
    token); the traceback goes to DEBUG."""
    logger.error("%s: %s", what, type(error).__name__)
    logger.debug("%s", what, exc_info=error)


class HealthBoard:
    """The channel's health for /readyz: setup problems by what they concern, each with
    advice, and rate limits (HTTP 429) by method and channel; each cleared when a later call
    to the same place succeeds. A rate limit makes the channel ``degraded``: nothing is lost,
    calls wait their turn, but messages are late."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._problems: dict[str, Failure] = {}
        #: "method channel" -> (Retry-After, until when it is shown)
        self._limited: dict[str, tuple[float, float]] = {}
        self._started = False
        self._stopped = False
        self._note = ""

    def started(self, note: str = "") -> None:
        self._started, self._stopped, self._note = True, False, note

    def stopped(self) -> None:
        self._stopped = True

    def report(self, failure: Failure) -> None:
        if failure.kind != "setup":
            return
        if failure.code in _AUTH:
            key = "auth"
        elif failure.code == "missing_scope":
            key = f"missing_scope:{failure.method}"
        else:
            key = f"{failure.code}:{failure.channel or ''}"
        if key not in self._problems:
            log.error("slack: %s", failure.advice)
        self._problems[key] = failure

    def limited(self, method: str, channel: str | None, retry_after: float) -> None:
        """Slack answered ``method`` (on ``channel``) with 429 and ``Retry-After``."""
        key = f"{method} {channel}" if channel else method
        if key not in self._limited:
            log.warning("slack: rate limited on %s (Retry-After %gs); calls wait", key, retry_after)
        self._limited[key] = (retry_after, self._clock() + retry_after + LIMIT_SHOWN_SECONDS)

    def cleared(self, method: str, channel: str | None = None) -> None:
        """``method`` succeeded (on ``channel``): the token works, the method has its scope,
        the channel is usable, and the rate limit there is over."""
        place = f"{method} {channel}" if channel else method
        if self._limited.pop(place, None) is not None:
            log.info("slack: %s no longer rate limited", place)
        for key in list(self._problems):
            failure = self._problems[key]
            if (
                key == "auth"
                or key == f"missing_scope:{method}"
                or (channel is not None and failure.channel == channel and failure.code in _CHANNEL)
            ):
                log.info("slack: recovered from %s", failure.code)
                del self._problems[key]

    @property
    def problems(self) -> list[Failure]:
        return list(self._problems.values())

    def _rate_limits(self) -> str:
        now = self._clock()
        for key, (_, until) in list(self._limited.items()):
            if until <= now:
                del self._limited[key]
        return "; ".join(
            f"rate limited by Slack on {key} (HTTP 429, Retry-After {retry_after:g} s): "
            "messages wait and go out in order"
            for key, (retry_after, _) in sorted(self._limited.items())
        )

    def state(self) -> ComponentState:
        if self._stopped:
            return ComponentState(Health.STOPPED)
        if not self._started and not self._problems:
            return ComponentState(Health.STARTING)
        limits = self._rate_limits()
        if self._problems:
            down = any(f.code in _AUTH for f in self._problems.values())
            parts = [f.advice for f in self._problems.values()]
            if limits:
                parts.append(limits)
            return ComponentState(Health.DOWN if down else Health.DEGRADED, "; ".join(parts))
        if limits:
            return ComponentState(Health.DEGRADED, limits)
        return ComponentState(Health.OK, self._note)
