"""What the channel shows in Slack: a conversation's root message, the escalation form, the
``/queue`` report, queue alerts. Pure functions of the model, tested without Slack.

Block Kit reference: https://docs.slack.dev/reference/block-kit/blocks. Times are shown with
``<!date^…>`` so each reader sees them in their own time zone
(https://docs.slack.dev/messaging/formatting-message-text#date-formatting).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bridge.model import Author, Conversation, ConversationStatus, Message, Visibility
from bridge.ports import QueueItem, QueueStatus
from channels.slack.convert import escape

TAKE, RESOLVE, ESCALATE, REOPEN = "take", "resolve", "escalate", "reopen"
ACTIONS = (TAKE, RESOLVE, ESCALATE, REOPEN)
ESCALATION_VIEW = "escalate"

#: How agents read a channel's name; an unknown channel shows as its own name.
CHANNEL_LABELS = {"webchat": "Web chat", "telegram": "Telegram", "email": "Email", "slack": "Slack"}


def channel_label(channel: str) -> str:
    return CHANNEL_LABELS.get(channel, channel.capitalize())


def when(moment: datetime, style: str = "{date_short_pretty} {time}") -> str:
    """A time every reader sees in their own zone; the fallback is UTC."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{style}|{fallback}>"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


@dataclass(frozen=True, slots=True)
class RootView:
    """Everything the root message shows, gathered by the mirror."""

    conversation: Conversation
    customer_name: str
    status: QueueStatus | None
    assignee_name: str | None
    overdue_since: datetime | None = None


def _status_line(view: RootView) -> str:
    conversation = view.conversation
    status = conversation.status
    if status is ConversationStatus.QUEUED:
        position = view.status.position if view.status is not None else None
        where = f" — number {position} in line" if position is not None else ""
        return f":hourglass_flowing_sand: Waiting{where}"
    if status is ConversationStatus.ASSIGNED:
        return f":bust_in_silhouette: Assigned to {escape(view.assignee_name or 'an agent')}"
    if status is ConversationStatus.PENDING_CUSTOMER:
        who = f" ({escape(view.assignee_name)})" if view.assignee_name else ""
        return f":speech_balloon: Waiting on the customer{who}"
    return ":white_check_mark: Resolved"


def _due_line(view: RootView) -> str:
    conversation = view.conversation
    if conversation.first_response_at is not None:
        return f"First response: {when(conversation.first_response_at)}"
    if view.overdue_since is not None:
        return f":alarm_clock: First response overdue since {when(view.overdue_since)}"
    if conversation.promised_reply_at is not None:
        return f"First response due: {when(conversation.promised_reply_at)}"
    if view.status is not None and view.status.eta_seconds is not None:
        return f"First response expected in about {duration(view.status.eta_seconds)}"
    return "First response due: –"


def root_message(view: RootView) -> tuple[str, list[dict[str, Any]]]:
    """The fallback text (notifications) and the blocks of a conversation's root message."""
    conversation = view.conversation
    name = escape(view.customer_name)
    label = channel_label(conversation.origin.channel)
    reference = conversation.reference
    status_line = _status_line(view)
    text = f"{reference} {view.customer_name} ({label}): {conversation.status.value}"
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "block_id": "summary",
            "text": {"type": "mrkdwn", "text": f"*{name}* · {label} · *{reference}*"},
        },
        {
            "type": "section",
            "block_id": "state",
            "fields": [
                {"type": "mrkdwn", "text": f"*Status*\n{status_line}"},
                {"type": "mrkdwn", "text": f"*Due*\n{_due_line(view)}"},
                {
                    "type": "mrkdwn",
                    "text": f"*Queue*\n{escape(conversation.team)} · tier {conversation.tier}",
                },
                {"type": "mrkdwn", "text": f"*Priority*\n{conversation.priority.name.lower()}"},
            ],
        },
    ]
    buttons = _buttons(conversation)
    if buttons:
        blocks.append({"type": "actions", "block_id": "actions", "elements": buttons})
    return text, blocks


def _buttons(conversation: Conversation) -> list[dict[str, Any]]:
    value = str(conversation.id)

    def button(action: str, label: str, style: str | None = None) -> dict[str, Any]:
        element: dict[str, Any] = {
            "type": "button",
            "action_id": action,
            "text": {"type": "plain_text", "text": label},
            "value": value,
        }
        if style is not None:
            element["style"] = style
        return element

    status = conversation.status
    if status is ConversationStatus.RESOLVED:
        return [button(REOPEN, "Reopen")]
    buttons = []
    if status is ConversationStatus.QUEUED:
        buttons.append(button(TAKE, "Take", "primary"))
    buttons += [button(RESOLVE, "Resolve"), button(ESCALATE, "Escalate", "danger")]
    return buttons


# --- mirrored messages ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Post:
    """A message as posted into its thread: under whose name, with which icon, what text."""

    username: str
    icon_emoji: str
    text: str


def mirrored(message: Message, origin_channel: str) -> Post:
    """How a stored message shows in the agents' thread: customers under their own name and
    channel, agents' replies under theirs, notes marked internal with a lock."""
    text = escape(message.text)
    if message.edited:
        text += " _(edited)_"
    name = message.author_name or message.author.value
    if message.visibility is Visibility.INTERNAL:
        return Post(f"{name} (internal note)", ":lock:", f"🔒 {text}")
    if message.author is Author.CUSTOMER:
        return Post(f"{name} ({channel_label(origin_channel)})", ":bust_in_silhouette:", text)
    if message.author is Author.AGENT:
        return Post(f"{name} (agent)", ":headphones:", text)
    if message.author is Author.BOT:
        return Post(f"{name} (bot)", ":robot_face:", text)
    return Post("System", ":gear:", text)


def withdrawn(message: Message) -> str:
    return f"~{escape(message.text)}~ _(withdrawn before it was sent)_"


def failure_text(reason: str) -> str:
    return f":warning: Not delivered to the customer: {escape(reason)}"


def breach_text(response: str, due_at: datetime) -> str:
    return f":alarm_clock: The {response} response is overdue (it was due {when(due_at)})."


# --- escalation ---------------------------------------------------------------------------


def escalation_modal(conversation: Conversation) -> dict[str, Any]:
    """The form the Escalate button opens; the conversation id rides in private_metadata."""

    def text_input(
        block: str,
        label: str,
        *,
        initial: str = "",
        multiline: bool = False,
        optional: bool = False,
    ) -> dict[str, Any]:
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": block}
        if initial:
            element["initial_value"] = initial
        if multiline:
            element["multiline"] = True
        return {
            "type": "input",
            "block_id": block,
            "optional": optional,
            "label": {"type": "plain_text", "text": label},
            "element": element,
        }

    return {
        "type": "modal",
        "callback_id": ESCALATION_VIEW,
        "private_metadata": str(conversation.id),
        "title": {"type": "plain_text", "text": f"Escalate {conversation.reference}"[:24]},
        "submit": {"type": "plain_text", "text": "Escalate"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            text_input("tier", "Tier", initial=str(conversation.tier + 1)),
            text_input("team", "Team", initial=conversation.team, optional=True),
            text_input("note", "Handoff note: what should the next agent know?", multiline=True),
        ],
    }


@dataclass(frozen=True, slots=True)
class EscalationForm:
    conversation_id: int
    tier: int | None
    team: str | None
    note: str


def parse_escalation(
    metadata: str, values: Mapping[str, Any]
) -> tuple[EscalationForm | None, dict[str, str]]:
    """The submitted form, or the errors to show next to its fields."""

    def value(block: str) -> str:
        field = (values.get(block) or {}).get(block) or {}
        return str(field.get("value") or "").strip()

    errors: dict[str, str] = {}
    tier_text, team, note = value("tier"), value("team"), value("note")
    tier: int | None = None
    if tier_text:
        if not tier_text.isdigit() or not 1 <= int(tier_text) <= 99:
            errors["tier"] = "A tier is a number from 1 to 99."
        else:
            tier = int(tier_text)
    if not note:
        errors["note"] = "Write what the next agent should know."
    if not metadata.isdigit():
        errors["note"] = "This form lost its conversation; open it again from the thread."
    if errors:
        return None, errors
    return EscalationForm(int(metadata), tier, team or None, note), {}


# --- reports -------------------------------------------------------------------------------


def queue_report(
    items: Sequence[QueueItem], length: int, live: Mapping[str, Any], breaches: int | None
) -> str:
    """``/queue``: the length, the oldest wait, agents online, SLA breaches, the next few."""
    oldest = max((i.waiting_seconds for i in items), default=None)
    lines = [
        f"*Queue:* {length} waiting · oldest wait {duration(oldest)}",
        f"*Agents online:* {live.get('agents_online', 0)}",
        f"*SLA breaches (24 h):* {breaches if breaches is not None else '–'}",
    ]
    if items:
        lines.append("*Next up:*")
        for item in items[:5]:
            conversation = item.conversation
            lines.append(
                f"{item.position}. {conversation.reference} · "
                f"{channel_label(conversation.origin.channel)} · waiting "
                f"{duration(item.waiting_seconds)} · {escape(conversation.team)} "
                f"tier {conversation.tier}"
            )
    return "\n".join(lines)


def alert_text(length: int, oldest: float | None, *, max_length: int, max_wait: float) -> str:
    reasons = []
    if max_length and length >= max_length:
        reasons.append(f"{length} conversations waiting (threshold {max_length})")
    if max_wait and oldest is not None and oldest >= max_wait:
        reasons.append(f"the oldest has waited {duration(oldest)} (threshold {duration(max_wait)})")
    return ":rotating_light: *Queue alert:* " + " and ".join(reasons)


def recovery_text(length: int, oldest: float | None) -> str:
    return (
        f":white_check_mark: *Queue back to normal:* {length} waiting, "
        f"oldest wait {duration(oldest)}"
    )
