"""Settings of the Slack channel (``[channels.slack]``)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: A Slack conversation id: public/private channels (C, G) and direct messages (D).
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")


class SlackSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The bot token (xoxb-...); empty leaves the channel off.
    bot_token: str = Field(default="", repr=False)
    #: Verifies every request Slack sends (HTTP mode).
    signing_secret: str = Field(default="", repr=False)
    #: An app-level token (xapp-...) turns on Socket Mode.
    app_token: str = Field(default="", repr=False)
    #: The Web API base URL (a proxy or a test double).
    api_url: str = "https://slack.com/api/"
    #: The channel id where each conversation gets its thread.
    support_channel: str = ""
    #: The channel id for queue alerts.
    supervisor_channel: str = ""
    #: Names this Slack app among several served by one bridge.
    account: str = Field(default="default", min_length=1, max_length=64, pattern=r"^[\w.-]+$")
    #: Channels whose members are customers (Slack Connect / shared channels): each top-level
    #: message there starts a conversation, answered in its thread.
    customer_channels: tuple[str, ...] = ()
    #: Direct messages to the app are customer conversations (one per DM).
    direct_messages: bool = True
    #: ``"team=CHANNEL_ID"`` entries: that team's conversations get their threads there
    #: instead of in ``support_channel``.
    team_channels: tuple[str, ...] = ()
    #: A thread message starting with one of these is an internal note (stored without it).
    note_prefixes: tuple[str, ...] = ("note:", "private:", ";;", "\\\\")
    #: ``"reply"``: thread messages go to the customer unless marked as notes; ``"note"``:
    #: every thread message is internal unless it starts with ``reply_prefix``.
    default_visibility: Literal["reply", "note"] = "reply"
    #: Marks a public reply when ``default_visibility = "note"`` (stored without it).
    reply_prefix: str = Field(default="reply:", min_length=1)
    #: Public replies from Slack wait this long before they are sent: deleting the Slack
    #: message meanwhile cancels it, editing it changes what is sent. 0 turns this off.
    hold_seconds: float = Field(default=10.0, ge=0, le=300)
    #: Messages posted per second into one Slack channel (Slack allows about 1).
    messages_per_second: float = Field(default=1.0, gt=0, le=10)
    #: Seconds to gather a conversation's state changes into one update of its root message.
    root_update_delay: float = Field(default=2.0, ge=0, le=60)
    #: Seconds between checks that queued conversations' roots show their current place in
    #: line (it moves as others are served); 0 turns this off.
    root_refresh_interval: float = Field(default=60.0, ge=0)
    #: Alert the supervisors' channel at this many conversations waiting (0: never).
    alert_queue_length: int = Field(default=20, ge=0)
    #: Alert the supervisors' channel when the oldest wait passes this many seconds (0: never).
    alert_oldest_wait: float = Field(default=900.0, ge=0)
    #: The all-clear is posted once both figures are below this share of their thresholds.
    alert_recovery_ratio: float = Field(default=0.8, gt=0, le=1)
    #: Seconds between checks of the queue for alerts.
    alert_interval: float = Field(default=30.0, gt=0)
    #: Seconds a looked-up Slack profile (name, email) is kept.
    user_cache_seconds: float = Field(default=3600.0, ge=0)

    @field_validator("support_channel", "supervisor_channel")
    @classmethod
    def _channel_id(cls, value: str) -> str:
        if value and not _CHANNEL_ID.match(value):
            raise ValueError(f"{value!r} is not a Slack channel id (like C0123ABCD)")
        return value

    @field_validator("customer_channels")
    @classmethod
    def _channel_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for channel in value:
            if not _CHANNEL_ID.match(channel):
                raise ValueError(f"{channel!r} is not a Slack channel id (like C0123ABCD)")
        return value

    @field_validator("team_channels")
    @classmethod
    def _team_channels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            team, sep, channel = entry.partition("=")
            if not sep or not team.strip() or not _CHANNEL_ID.match(channel.strip()):
                raise ValueError(f"{entry!r} must look like team=C0123ABCD")
        return value

    @field_validator("note_prefixes")
    @classmethod
    def _prefixes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not p.strip() for p in value):
            raise ValueError("note prefixes must not be empty")
        return value

    @model_validator(mode="after")
    def _apart(self) -> SlackSettings:
        shared = self.agent_channels & set(self.customer_channels)
        if shared:
            raise ValueError(
                f"{', '.join(sorted(shared))}: a channel is for agents or for customers, not both"
            )
        return self

    def channel_for_team(self, team: str) -> str:
        """Where a team's conversations get their threads."""
        for entry in self.team_channels:
            name, _, channel = entry.partition("=")
            if name.strip() == team:
                return channel.strip()
        return self.support_channel

    @property
    def agent_channels(self) -> frozenset[str]:
        """Every channel where conversation threads live."""
        channels = {self.support_channel} if self.support_channel else set()
        channels |= {e.partition("=")[2].strip() for e in self.team_channels}
        return frozenset(channels)
