"""What the web layer needs from the rest of the bridge, handed in by the composition root."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bridge.conversations import ConversationService
from bridge.model import Conversation
from bridge.ports import (
    AgentStore,
    Clock,
    ComponentState,
    ConversationStore,
    DashboardStore,
    DeliveryStatusStore,
    EventBus,
    FileStore,
    InboxStore,
    Ingest,
    QueueService,
    RatingStore,
    SessionStore,
    StatusLinkStore,
    TemplateStore,
)
from web.status_links import StatusLinks

Readiness = Callable[[], Awaitable[Mapping[str, ComponentState]]]
#: When the customer's current wait is due an answer (the SLA target), or None.
ResponseDue = Callable[[Conversation], datetime | None]


@dataclass(frozen=True, slots=True)
class InboxSettings:
    """The ``[web]`` settings, as the web layer uses them."""

    session_hours: float = 12.0
    cookie_samesite: str = "Lax"
    secure_cookies: bool = False
    login_max_failures: int = 5
    login_max_failures_per_ip: int = 20
    login_lockout_minutes: int = 15
    csat_enabled: bool = True
    #: A reply unsent this long after it was due counts as waiting (``outbox.overdue_after``).
    delivery_overdue_after: timedelta = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class InboxServices:
    """The inbox's, the dashboard's and the status page's own stores and services."""

    sessions: SessionStore
    inbox: InboxStore
    templates: TemplateStore
    ratings: RatingStore
    links: StatusLinkStore
    dashboard: DashboardStore
    #: Which replies wait to be delivered, and why (the banner, /api/deliveries/waiting).
    deliveries: DeliveryStatusStore
    ingest: Ingest
    status_pages: StatusLinks
    response_due: ResponseDue
    settings: InboxSettings


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
    inbox: InboxServices
    #: Title of the demo page and the widget.
    title: str = "Support"
    webchat_enabled: bool = True
