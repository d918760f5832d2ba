"""Settings of the web chat channel (``[channels.webchat]``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WebchatSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: On by default: the embedded quick start is a web chat.
    enabled: bool = True
    #: Names this web chat among several sites served by one bridge.
    account: str = Field(default="default", min_length=1, max_length=64, pattern=r"^[\w.-]+$")
    #: A visitor's session lasts this long after their last visit.
    session_ttl_days: int = Field(default=30, gt=0, le=3650)
    #: Origins allowed to open sessions and websockets (the sites embedding the widget).
    #: ``["*"]`` allows any.
    allowed_origins: tuple[str, ...] = ("*",)
    #: Messages a visitor may send per minute; 0 turns the limit off.
    rate_limit_per_minute: int = Field(default=60, ge=0)
    #: Websocket connections this process accepts at once; more get HTTP 503.
    max_connections: int = Field(default=20_000, gt=0)
    #: How many messages a reconnecting widget receives at most in one catch-up.
    resume_limit: int = Field(default=500, gt=0, le=5000)
    #: Shown in the widget's header.
    title: str = Field(default="Support", max_length=80)
