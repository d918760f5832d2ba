"""Wiring of the inbox, the dashboard, the status page and ratings (``[web]`` settings)."""

from __future__ import annotations

from datetime import datetime, timedelta

from bridge.conversations import ConversationService
from bridge.model import Conversation
from bridge.ports import Clock, EventBus, Ingest
from config.schema import Settings
from routing.router import Router
from routing.sla import FIRST, NEXT
from storage.store import Storage
from web.csat import CsatAsker
from web.services import InboxServices, InboxSettings, ResponseDue
from web.status_links import StatusLinks


def inbox_settings(settings: Settings) -> InboxSettings:
    web = settings.web
    secure = web.secure_cookies == "always" or (
        web.secure_cookies == "auto" and settings.public_url.startswith("https://")
    )
    return InboxSettings(
        session_hours=web.session_hours,
        cookie_samesite=web.cookie_samesite.capitalize(),
        secure_cookies=secure,
        login_max_failures=web.login_max_failures,
        login_max_failures_per_ip=web.login_max_failures_per_ip,
        login_lockout_minutes=web.login_lockout_minutes,
        csat_enabled=web.csat_enabled,
        delivery_overdue_after=timedelta(seconds=settings.outbox.overdue_after),
    )


def response_due(router: Router) -> ResponseDue:
    def due(conversation: Conversation) -> datetime | None:
        """When the customer's current wait is due an answer: the channel's first or next
        response target from when they started waiting, in the team's open hours."""
        if conversation.waiting_since is None or not conversation.is_open:
            return None
        policy = router.settings
        kind = FIRST if conversation.first_response_at is None else NEXT
        return policy.sla.due(
            conversation.origin.channel,
            conversation.priority,
            kind,
            conversation.waiting_since,
            policy.hours_of(conversation.team),
        )

    return due


def build_inbox(
    settings: Settings,
    storage: Storage,
    *,
    router: Router,
    service: ConversationService,
    ingest: Ingest,
    bus: EventBus,
    clock: Clock,
) -> tuple[InboxServices, CsatAsker]:
    links = StatusLinks(storage.feedback, clock, settings.public_url)
    due = response_due(router)
    services = InboxServices(
        sessions=storage.sessions,
        inbox=storage.inbox,
        templates=storage.templates,
        ratings=storage.feedback,
        links=storage.feedback,
        dashboard=storage.routing,
        deliveries=storage.delivery_status,
        ingest=ingest,
        status_pages=links,
        response_due=due,
        settings=inbox_settings(settings),
    )
    asker = CsatAsker(
        bus,
        service,
        storage.conversations,
        storage.feedback,
        links,
        bot_name=settings.routing.acknowledgements.bot_name,
        enabled=settings.web.csat_enabled,
    )
    return services, asker
