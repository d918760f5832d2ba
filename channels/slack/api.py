"""The Web API as the channel uses it: slack_sdk's AsyncWebClient, paced, errors sorted.

Every call goes through :meth:`SlackApi._call`, the one place where SDK exceptions become a
:class:`SlackFailure` (see :mod:`channels.slack.errors`) and where the health board learns
about setup problems and recoveries. Links are never unfurled (``unfurl_links=False``,
``unfurl_media=False``): a customer's link must not expand into a preview in the agents'
channel, nor an agent's into the customer's.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from channels.slack.errors import Failure, HealthBoard, classify
from channels.slack.pacing import Pacer, RateLimited

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Carries the caller's idempotency key with chat.postMessage. Slack has none and ignores
#: headers it does not know; a deduplicating proxy (and the test double) honours it, which
#: closes the moment between Slack's answer and the outbox recording it.
IDEMPOTENCY_HEADER = "X-Bridge-Idempotency-Key"


class SlackFailure(Exception):
    """A Web API call failed; ``failure`` says how (and whether to try again)."""

    def __init__(self, failure: Failure, method: str) -> None:
        super().__init__(f"{method}: {failure.code}")
        self.failure = failure
        self.method = method


class SlackApi:
    def __init__(
        self,
        client: AsyncWebClient,
        pacer: Pacer,
        health: HealthBoard,
        *,
        bot_name: str = "the bot",
    ) -> None:
        self.client = client
        self.pacer = pacer
        self.health = health
        self.bot_name = bot_name

    async def _call(
        self,
        method: str,
        fn: Callable[[], Awaitable[AsyncSlackResponse]],
        *,
        channel: str | None = None,
        post: bool = False,
        retry_limited: bool = True,
        key: str | None = None,
    ) -> AsyncSlackResponse:
        key = key or (f"post:{channel}" if post else f"method:{method}")

        def limited(error: BaseException) -> float | None:
            # Every 429 reaches the health board, also those the pacer waits out itself.
            retry_after = _retry_after(error)
            if retry_after is not None:
                self.health.limited(method, channel, retry_after)
            return retry_after

        try:
            response = await self.pacer.call(
                key, fn, paced=post, retry_limited=retry_limited, is_limited=limited
            )
        except RateLimited as error:
            failure = Failure("ratelimited", "ratelimited", error.retry_after, channel=channel)
            raise SlackFailure(failure, method) from error
        except Exception as error:
            failure = classify(error, channel=channel, bot=self.bot_name, method=method)
            self.health.report(failure)
            if failure.kind != "setup":
                log.warning("slack %s failed: %s", method, failure.code)
            raise SlackFailure(failure, method) from error
        self.health.cleared(method, channel)
        return response

    # --- messages -------------------------------------------------------------------------

    async def post(
        self,
        channel: str,
        text: str,
        *,
        thread_ts: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
        username: str | None = None,
        icon_emoji: str | None = None,
        retry_limited: bool = True,
        idempotency_key: str | None = None,
    ) -> str:
        """Post a message; returns its ts. ``idempotency_key``: the same on every attempt of
        one post (:data:`IDEMPOTENCY_HEADER`)."""
        args: dict[str, Any] = {
            "channel": channel,
            "text": text,
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if thread_ts is not None:
            args["thread_ts"] = thread_ts
        if blocks is not None:
            args["blocks"] = blocks
        if username is not None:
            args["username"] = username[:80]
        if icon_emoji is not None:
            args["icon_emoji"] = icon_emoji
        # chat_postMessage takes no headers; api_call is what it calls, with the same JSON body.
        headers = {IDEMPOTENCY_HEADER: idempotency_key} if idempotency_key else None
        response = await self._call(
            "chat.postMessage",
            lambda: self.client.api_call("chat.postMessage", json=args, headers=headers),
            channel=channel,
            post=True,
            retry_limited=retry_limited,
        )
        return str(response["ts"])

    async def update(
        self,
        channel: str,
        ts: str,
        text: str,
        *,
        blocks: list[dict[str, Any]] | None = None,
        retry_limited: bool = True,
    ) -> None:
        args: dict[str, Any] = {"channel": channel, "ts": ts, "text": text}
        if blocks is not None:
            args["blocks"] = blocks
        await self._call(
            "chat.update",
            lambda: self.client.chat_update(**args),
            channel=channel,
            retry_limited=retry_limited,
        )

    async def react(self, channel: str, ts: str, name: str) -> None:
        """Add a reaction; one that is already there is not an error."""
        try:
            await self._call(
                "reactions.add",
                lambda: self.client.reactions_add(channel=channel, timestamp=ts, name=name),
                channel=channel,
            )
        except SlackFailure as error:
            if error.failure.code != "already_reacted":
                raise

    async def ephemeral(
        self, channel: str, user: str, text: str, *, thread_ts: str | None = None
    ) -> None:
        """A message only ``user`` sees; failures are logged, never raised (it is advice)."""
        args: dict[str, Any] = {"channel": channel, "user": user, "text": text}
        if thread_ts is not None:
            args["thread_ts"] = thread_ts
        try:
            await self._call(
                "chat.postEphemeral",
                lambda: self.client.chat_postEphemeral(**args),
                channel=channel,
            )
        except SlackFailure as error:
            log.warning("could not tell user %s privately: %s", user, error.failure.code)

    async def upload(
        self,
        channel: str,
        files: list[tuple[str, bytes]],
        *,
        thread_ts: str | None = None,
        comment: str | None = None,
        retry_limited: bool = True,
    ) -> None:
        """Upload files into a channel or thread (files.getUploadURLExternal, the upload,
        files.completeUploadExternal: https://docs.slack.dev/messaging/working-with-files)."""
        uploads = [{"content": data, "filename": name, "title": name} for name, data in files]
        args: dict[str, Any] = {"channel": channel, "file_uploads": uploads}
        if thread_ts is not None:
            args["thread_ts"] = thread_ts
        if comment:
            args["initial_comment"] = comment
        await self._call(
            "files.completeUploadExternal",
            lambda: self.client.files_upload_v2(**args),
            channel=channel,
            post=True,
            retry_limited=retry_limited,
        )

    async def download(self, url: str, limit: int) -> bytes | None:
        """A file a user shared (``url_private``, bot token required); None above ``limit``."""
        session = self.client.session
        assert session is not None, "SlackApi.download needs the client's session"
        headers = {"Authorization": f"Bearer {self.client.token}"}
        try:
            async with session.get(url, headers=headers) as response:
                if response.status != 200:
                    raise SlackFailure(Failure("refused", f"http_{response.status}"), "download")
                data = await response.content.read(limit + 1)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise SlackFailure(classify(error), "download") from error
        return None if len(data) > limit else data

    # --- people and places ----------------------------------------------------------------

    async def user(self, user_id: str) -> Mapping[str, Any]:
        # One user's look-up need not wait behind another's (customers' first messages wait
        # for it before Slack is answered): a key per user, not one for the method.
        response = await self._call(
            "users.info", lambda: self.client.users_info(user=user_id), key=f"user:{user_id}"
        )
        user = response.get("user")
        return user if isinstance(user, dict) else {"id": user_id}

    async def auth_test(self) -> Mapping[str, Any]:
        response = await self._call("auth.test", self.client.auth_test)
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def channel_info(self, channel: str) -> Mapping[str, Any]:
        response = await self._call(
            "conversations.info",
            lambda: self.client.conversations_info(channel=channel),
            channel=channel,
        )
        info = response.get("channel")
        return info if isinstance(info, dict) else {}

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        await self._call(
            "views.open", lambda: self.client.views_open(trigger_id=trigger_id, view=view)
        )


def _retry_after(error: BaseException) -> float | None:
    """The Retry-After of a 429, None for any other error (for the pacer)."""
    failure = classify(error)
    return failure.retry_after if failure.kind == "ratelimited" else None
