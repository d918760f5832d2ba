"""What the web layer needs from the rest of the bridge, handed in by the composition root."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from bridge.conversations import ConversationService
from bridge.ports import (
    AgentStore,
    Clock,
    ComponentState,
    ConversationStore,
    EventBus,
    FileStore,
    QueueService,
)

Readiness = Callable[[], Awaitable[Mapping[str, ComponentState]]]


@dataclass(frozen=True, slots=True)
class WebServices:
    conversations: ConversationStore
    service: ConversationService
    agents: AgentStore
    bus: EventBus
    clock: Clock
    readiness: Readiness
    queue: QueueService
    files: FileStore
    #: Title of the demo page and the widget.
    title: str = "Support"
    webchat_enabled: bool = True
