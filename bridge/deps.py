"""What a channel adapter is given to work with, in one bundle.

The composition root builds one :class:`ChannelDeps` and hands it to each channel, so adding a
service an adapter may use does not change every constructor.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bridge.conversations import ConversationService
from bridge.ports import (
    AgentStore,
    Clock,
    ConversationStore,
    CursorStore,
    CustomerHistory,
    CustomerRatings,
    DeliveryFeedback,
    EventBus,
    FileStore,
    Ingest,
    LinkStore,
    QueueService,
    Singletons,
)


@dataclass(frozen=True, slots=True)
class ChannelDeps:
    ingest: Ingest
    history: CustomerHistory
    conversations: ConversationStore
    service: ConversationService
    queue: QueueService
    agents: AgentStore
    cursors: CursorStore
    links: LinkStore
    files: FileStore
    feedback: DeliveryFeedback
    bus: EventBus
    clock: Clock
    #: The address customers and agents use (links in acknowledgements and emails).
    public_url: str
    #: Where the bridge keeps files of its own (``./var`` by default).
    var_dir: Path
    #: Runs a loop that must not run twice at once across processes (long polling, IDLE).
    singletons: Singletons
    #: Ratings given with buttons on the customer's channel (None: ratings are off).
    ratings: CustomerRatings | None = None
