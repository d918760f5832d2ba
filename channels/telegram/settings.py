"""Settings of the Telegram channel (``[channels.telegram]``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: The Bot API lets a bot download files up to 20 MB (https://core.telegram.org/bots/api#getfile).
BOT_API_DOWNLOAD_LIMIT = 20 * 1024 * 1024


class TelegramSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The bot's token from @BotFather; empty leaves the channel off.
    token: str = Field(default="", repr=False)
    #: Names this bot among several served by one bridge.
    account: str = Field(default="default", min_length=1, max_length=64, pattern=r"^[\w.-]+$")
    #: The Bot API server (a self-hosted one, a proxy, a test double).
    api_server: str = "https://api.telegram.org"
    mode: Literal["polling", "webhook"] = "polling"
    #: Checked against X-Telegram-Bot-Api-Secret-Token in webhook mode (required there):
    #: 1-256 characters, letters, digits, "_" and "-".
    webhook_secret: str = Field(default="", repr=False)
    #: Where Telegram posts updates in webhook mode; empty: server.public_url +
    #: "/telegram/webhook". Telegram needs HTTPS on port 443, 80, 88 or 8443.
    webhook_url: str = ""
    #: Group chats start conversations too (one per member who writes) when on.
    groups: bool = False
    #: Larger files are not downloaded: the agent sees a note and the customer a polite text.
    max_file_bytes: int = Field(default=BOT_API_DOWNLOAD_LIMIT, gt=0)
    #: Seconds a getUpdates long poll waits for news before asking again.
    poll_timeout: int = Field(default=25, ge=1, le=50)
    #: The longest pause between two attempts while Telegram or the store is unavailable.
    poll_backoff_max: float = Field(default=30.0, gt=0)
    #: Seconds before a Bot API call (other than the long poll) counts as failed.
    request_timeout: float = Field(default=30.0, gt=0, le=50)
    #: Messages per second for the whole bot (Telegram: 30). Each counts from when it is let
    #: go until a second after Telegram answered, so delays on the way cannot bunch them.
    messages_per_second: float = Field(default=30.0, gt=0, le=30)
    #: Seconds from Telegram's answer to the next message to the same private chat
    #: (Telegram: about one per second).
    chat_interval: float = Field(default=1.0, ge=0)
    #: The same for a group (Telegram: 20 per minute).
    group_interval: float = Field(default=3.0, ge=0)
