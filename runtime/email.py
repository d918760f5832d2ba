"""Wiring of the email channel: its adapter from settings, or None when it is off; and the
``bridge email import`` command's body."""

from __future__ import annotations

from bridge.deps import ChannelDeps
from channels.email.adapter import EmailAdapter
from channels.email.settings import EmailSettings
from runtime.channel import WebChannel


def build_email(settings: EmailSettings, deps: ChannelDeps) -> WebChannel | None:
    """None: the channel is not configured (``imap_host`` is empty)."""
    if not settings.enabled:
        return None
    return EmailAdapter(settings, deps)
