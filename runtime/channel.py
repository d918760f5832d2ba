"""What the composition root needs of a channel: the adapter port plus its HTTP routes."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from bridge.ports import ChannelAdapter


class WebChannel(ChannelAdapter, Protocol):
    def routes(self) -> list[web.RouteDef]:
        """Routes mounted on the bridge's app (webhooks); empty when there are none."""
        ...
