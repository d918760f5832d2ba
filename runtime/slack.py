"""Wiring of the slack channel: its adapter from settings, or None when it is off."""

from __future__ import annotations

from bridge.deps import ChannelDeps
from channels.slack.adapter import SlackAdapter
from channels.slack.settings import SlackSettings
from runtime.channel import WebChannel


def build_slack(settings: SlackSettings, deps: ChannelDeps) -> WebChannel | None:
    """None: the channel is not configured (no bot token)."""
    if not settings.bot_token:
        return None
    return SlackAdapter(settings, deps)
