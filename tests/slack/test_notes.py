"""Note detection: every form is internal, stored without its marker; replies are explicit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.slack.notes import Escalate, Note, Reply, classify
from channels.slack.settings import SlackSettings

DEFAULTS = SlackSettings()


def reply_mode(text: str) -> Reply | Note | Escalate:
    return classify(
        text,
        note_prefixes=DEFAULTS.note_prefixes,
        default_visibility="reply",
        reply_prefix="reply:",
    )


def note_mode(text: str) -> Reply | Note | Escalate:
    return classify(
        text,
        note_prefixes=DEFAULTS.note_prefixes,
        default_visibility="note",
        reply_prefix="reply:",
    )


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("note: refund approved", "refund approved"),
        ("NOTE: shouting", "shouting"),
        ("  private: keep this", "keep this"),
        (";;quick one", "quick one"),
        ("\\\\ backslashes", "backslashes"),
        ("Private:\nmultiline\nnote", "multiline\nnote"),
        ("*note:* in bold", "in bold"),
        ("_private:_ in italics", "in italics"),
        ("~;;~ struck", "struck"),
    ],
)
def test_each_prefix_makes_a_note_without_the_prefix(text: str, stored: str) -> None:
    assert reply_mode(text) == Note(stored, "prefix")


def test_a_message_that_begins_by_mentioning_a_colleague_is_a_note() -> None:
    assert reply_mode("<@U0CARL> can you check?") == Note("<@U0CARL> can you check?", "mention")
    assert reply_mode("<@W0CARL|carl> ping") == Note("<@W0CARL|carl> ping", "mention")


def test_a_mention_later_in_the_text_does_not_make_a_note() -> None:
    assert reply_mode("Thanks, <@U0CARL> will follow up") == Reply(
        "Thanks, <@U0CARL> will follow up"
    )


def test_plain_text_is_a_reply_and_reply_prefix_is_dropped() -> None:
    assert reply_mode("Hello Ana!") == Reply("Hello Ana!")
    assert reply_mode("reply: Hello") == Reply("Hello")


def test_in_note_mode_only_reply_prefix_reaches_the_customer() -> None:
    assert note_mode("Hello Ana!") == Note("Hello Ana!", "default")
    assert note_mode("Reply: Hello Ana!") == Reply("Hello Ana!")
    assert note_mode("note: still a note") == Note("still a note", "prefix")


def test_configured_prefixes_replace_the_defaults() -> None:
    intent = classify(
        "!! internal", note_prefixes=("!!",), default_visibility="reply", reply_prefix="reply:"
    )
    assert intent == Note("internal", "prefix")
    assert classify(
        "note: now public", note_prefixes=("!!",), default_visibility="reply", reply_prefix="r:"
    ) == Reply("note: now public")


def test_escalation_takes_tier_team_and_the_handoff_note() -> None:
    assert reply_mode("escalate: tier 2 needs a refund override") == Escalate(
        2, None, "needs a refund override"
    )
    assert reply_mode("Escalate: team billing tier 3 invoice") == Escalate(3, "billing", "invoice")
    assert reply_mode("escalate: just the note") == Escalate(None, None, "just the note")
    assert note_mode("escalate: tier 2 x") == Escalate(2, None, "x")


@given(
    prefix=st.sampled_from(DEFAULTS.note_prefixes),
    blank=st.sampled_from(["", " ", "\n", "\t "]),
    body=st.text(),
    upper=st.booleans(),
)
def test_a_prefixed_message_is_never_a_reply(
    prefix: str, blank: str, body: str, upper: bool
) -> None:
    text = blank + (prefix.upper() if upper else prefix) + body
    assert isinstance(reply_mode(text), Note | Escalate)
    assert isinstance(note_mode(text), Note | Escalate)


@given(st.text())
def test_in_note_mode_nothing_without_reply_prefix_is_a_reply(text: str) -> None:
    if not text.lstrip().lower().startswith("reply:"):
        assert not isinstance(note_mode(text), Reply)
