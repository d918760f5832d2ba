"""Wiring of the telegram channel: its adapter from settings, or None when it is off."""

from __future__ import annotations

from bridge.deps import ChannelDeps
from channels.telegram.adapter import TelegramAdapter
from channels.telegram.settings import TelegramSettings
from runtime.channel import WebChannel


def build_telegram(settings: TelegramSettings, deps: ChannelDeps) -> WebChannel | None:
    """None: the channel is not configured (no token)."""
    if not settings.token:
        return None
    return TelegramAdapter(settings, deps)
