"""The mirror's cursor moves only past messages that are in Slack, whatever order the
channels' lanes finish in."""

from __future__ import annotations

from datetime import UTC, datetime

from bridge.model import Author, Message, Visibility
from channels.slack.mirror import Watermark
from channels.slack.posts import slack_typed_ts


def test_the_watermark_waits_for_the_oldest_unfinished_message() -> None:
    mark = Watermark(10)
    for message_id in (11, 12, 13):
        mark.begin(message_id)
    mark.end(12)  # another channel's lane finished first
    assert mark.value == 10
    mark.end(11)
    assert mark.value == 12
    mark.end(13)
    assert mark.value == 13
    mark.begin(14)
    assert mark.value == 13
    mark.end(14)
    assert mark.value == 14


def test_the_watermark_never_moves_back() -> None:
    mark = Watermark(10)
    mark.begin(20)
    mark.end(20)
    mark.begin(15)  # a late commit with a lower id
    assert mark.value == 20


def message(author: Author, external_id: str | None) -> Message:
    return Message(
        id=1,
        conversation_id=1,
        author=author,
        author_name="Bea",
        visibility=Visibility.PUBLIC,
        text="x",
        created_at=datetime(2026, 1, 5, tzinfo=UTC),
        external_id=external_id,
    )


def test_only_agents_messages_typed_in_slack_name_their_slack_message() -> None:
    assert slack_typed_ts(message(Author.AGENT, "slack:T0TEAM:1700.0001")) == "1700.0001"
    assert slack_typed_ts(message(Author.AGENT, "slack:T0TEAM:1700.0001:note")) == "1700.0001"
    assert slack_typed_ts(message(Author.AGENT, "api-key-7")) is None
    assert slack_typed_ts(message(Author.AGENT, None)) is None
    assert slack_typed_ts(message(Author.CUSTOMER, "slack:T0TEAM:1700.0001")) is None
