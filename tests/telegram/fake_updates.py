"""The fake Bot API's update methods: getUpdates (long polling, offsets, one poller at a
time), setWebhook/deleteWebhook/getWebhookInfo, and pushing updates to a webhook as Telegram
does (https://core.telegram.org/bots/api#getting-updates)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp

from tests.telegram.fake_records import ApiError, Call


class UpdateMethods:
    """Mixed into :class:`FakeBotApi`, whose state these methods read and change."""

    webhook_url: str
    webhook_secret: str
    webhook_responses: list[int]
    push_webhooks: bool
    _pending: list[dict[str, Any]]
    _changed: asyncio.Event
    _poll_generation: int
    _closing: bool
    _pusher: asyncio.Task[None] | None
    _http: aiohttp.ClientSession | None
    _clock: Callable[[], float]

    def _notify(self) -> None:
        raise NotImplementedError

    async def _get_updates(self, call: Call) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = call.params.get("offset")
        limit = int(call.params.get("limit") or 100)
        timeout = float(call.params.get("timeout") or 0)
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()  # an older poll still waiting learns it was superseded
        deadline = self._clock() + timeout
        while True:
            if isinstance(offset, int) and offset > 0:
                self._pending = [u for u in self._pending if u["update_id"] >= offset]
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only "
                    "one bot instance is running",
                )
            if self._pending or self._closing or self._clock() >= deadline:
                batch = self._pending[:limit]
                call.update_ids = [u["update_id"] for u in batch]
                return batch
            changed = self._changed
            try:
                async with asyncio.timeout(max(0.0, deadline - self._clock())):
                    await changed.wait()
            except TimeoutError:
                pass

    async def _set_webhook(self, call: Call) -> bool:
        url = call.params.get("url", "")
        if not isinstance(url, str):
            raise ApiError(400, "Bad Request: bad webhook: url must be a string")
        self.webhook_url = url
        self.webhook_secret = str(call.params.get("secret_token", ""))
        if call.params.get("drop_pending_updates"):
            self._pending.clear()
        if self.push_webhooks and url and self._pusher is None:
            self._pusher = asyncio.create_task(self._push())
        return True

    async def _delete_webhook(self, call: Call) -> bool:
        self.webhook_url = ""
        if call.params.get("drop_pending_updates"):
            self._pending.clear()
        return True

    async def _get_webhook_info(self, call: Call) -> dict[str, Any]:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }

    async def _push(self) -> None:
        """Post pending updates to the webhook in order, one at a time, retrying non-2xx."""
        self._http = aiohttp.ClientSession()
        while not self._closing:
            if not self.webhook_url or not self._pending:
                changed = self._changed
                await changed.wait()
                continue
            update = self._pending[0]
            headers = {}
            if self.webhook_secret:
                headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook_secret
            try:
                async with self._http.post(
                    self.webhook_url, json=update, headers=headers
                ) as response:
                    status = response.status
            except aiohttp.ClientError:
                status = 0
            self.webhook_responses.append(status)
            if 200 <= status < 300:
                if self._pending and self._pending[0] is update:
                    self._pending.pop(0)
            else:
                await asyncio.sleep(0.05)
            self._notify()
