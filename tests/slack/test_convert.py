"""Pure conversions on recorded Slack payloads (``payloads/``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bridge.errors import InvalidInput
from channels.slack.convert import (
    customer_message,
    customer_thread_key,
    escape,
    mentioned_users,
    parse_message_event,
    profile_of,
    slack_ref,
    split_ref,
    split_thread_key,
    starts_with_mention,
    to_plain,
    ts_time,
)

PAYLOADS = Path(__file__).parent / "payloads"
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_text())
    return data


def test_a_direct_message_is_a_whole_conversation() -> None:
    event = parse_message_event(payload("message_im"))
    assert event is not None
    assert (event.kind, event.channel, event.user, event.is_direct) == (
        "new",
        "D024BE91L",
        "U2147483697",
        True,
    )
    assert customer_thread_key(event) == "D024BE91L"
    assert split_thread_key("D024BE91L") == ("D024BE91L", None)


def test_a_customer_channel_message_starts_its_own_thread() -> None:
    event = parse_message_event(payload("file_share"))
    assert event is not None
    assert event.kind == "new"
    assert not event.in_thread
    assert customer_thread_key(event) == "C0SHARED:1700000400.000500"
    assert split_thread_key(customer_thread_key(event)) == ("C0SHARED", "1700000400.000500")


def test_a_thread_reply_belongs_to_its_root() -> None:
    event = parse_message_event(payload("message_thread_reply"))
    assert event is not None
    assert event.in_thread
    assert event.thread_ts == "1700000001.000100"


def test_files_the_app_can_read_are_kept_and_tombstones_dropped() -> None:
    event = parse_message_event(payload("file_share"))
    assert event is not None
    [shot] = event.files
    assert (shot.name, shot.mimetype, shot.size) == ("error.png", "image/png", 48213)
    assert shot.url.endswith("/download/error.png")


def test_an_edit_names_the_original_message() -> None:
    event = parse_message_event(payload("message_changed"))
    assert event is not None
    assert (event.kind, event.ts, event.user) == ("changed", "1700000100.000200", "U0BEA")
    assert event.text == "Your refund is on its way (3 days)"
    assert event.thread_ts == "1700000001.000100"


def test_a_deletion_names_the_deleted_message_and_its_author() -> None:
    event = parse_message_event(payload("message_deleted"))
    assert event is not None
    assert (event.kind, event.ts, event.user) == ("deleted", "1700000100.000200", "U0BEA")
    assert event.in_thread


@pytest.mark.parametrize("name", ["bot_message", "channel_join"])
def test_other_subtypes_are_not_someone_writing(name: str) -> None:
    event = parse_message_event(payload(name))
    assert event is not None
    assert event.kind == "other"


def test_other_event_types_are_not_messages() -> None:
    assert parse_message_event({"type": "reaction_added"}) is None


def test_slack_markup_becomes_plain_text() -> None:
    event = parse_message_event(payload("message_im"))
    assert event is not None
    assert to_plain(event.text) == (
        "Hello, my invoice #7 (https://example.com/inv/7) is wrong & I was charged twice <3"
    )
    assert to_plain("<@U1> and <@U2|bob>, see <#C1|general>", {"U1": "Ana"}) == (
        "@Ana and @bob, see #general"
    )
    assert to_plain("<!here> <mailto:a@b.c|a@b.c> <https://x.y>") == "@here a@b.c https://x.y"


def test_escaping_keeps_customer_text_from_becoming_mentions() -> None:
    assert escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"
    assert to_plain(escape("a < b & c > d")) == "a < b & c > d"


def test_mentions_are_found() -> None:
    text = payload("message_thread_reply")["text"]
    assert starts_with_mention(text)
    assert starts_with_mention("  <@W123|carl> hi")
    assert starts_with_mention("<!subteam^S0LEADS|@leads> thoughts?")
    assert not starts_with_mention("hi <@U1>")
    assert starts_with_mention("<!here> who knows billing?")
    assert not starts_with_mention("see <!here>")
    assert mentioned_users("<@U1> <@U2|x> <@U1>") == ["U1", "U2"]


def test_a_profile_names_the_person_and_says_whether_slack_confirmed_the_address() -> None:
    profile = profile_of(payload("user_info"))
    assert (profile.user_id, profile.name, profile.email) == (
        "U2147483697",
        "Ana Lima",
        "ana@customer.example",
    )
    assert profile.email_confirmed
    stranger = profile_of(payload("user_info_external"))
    assert (stranger.name, stranger.email, stranger.email_confirmed) == (
        "Joe from Acme",
        None,
        False,
    )


def test_a_customer_message_links_identities_only_with_a_confirmed_address() -> None:
    event = parse_message_event(payload("message_im"))
    assert event is not None
    confirmed = profile_of(payload("user_info"))
    message = customer_message(
        event, account="default", profile=confirmed, text="hi", received_at=NOW
    )
    assert message.thread.source == "slack:default"
    assert message.external_id == "D024BE91L:1355517523.000005"
    assert (message.sender_id, message.sender_name) == ("U2147483697", "Ana Lima")
    assert message.email_verified
    unconfirmed = profile_of({**payload("user_info"), "is_email_confirmed": False})
    message = customer_message(
        event, account="default", profile=unconfirmed, text="hi", received_at=NOW
    )
    assert message.email == "ana@customer.example"
    assert not message.email_verified


def test_an_empty_message_is_refused() -> None:
    event = parse_message_event(payload("message_im"))
    assert event is not None
    with pytest.raises(InvalidInput):
        customer_message(
            event, account="default", profile=profile_of({"id": "U1"}), text=" ", received_at=NOW
        )


def test_references_and_times() -> None:
    assert split_ref(slack_ref("C1", "1.2")) == ("C1", "1.2")
    assert ts_time("1700000000.000100") == datetime(2023, 11, 14, 22, 13, 20, 100, tzinfo=UTC)
