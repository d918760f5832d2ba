"""The Telegram channel logs ids, never message bodies, the bot token or the webhook secret,
at INFO and above -- failures included."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.telegram.bridge import telegram_bridge
from tests.telegram.conftest import TOKEN
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.updates import edits, says, sends_document
from tests.telegram.waiting import CHAT, conversation_id, messages_of, reply

BODY = "my card number is 4111-1111-1111-1111"
EDITED = "my card number is 4111-1111-1111-2222"
REPLY = "we never store card numbers, please delete it"
NOTE = "possible fraud, check account 991"


async def test_a_conversation_with_failures_leaves_no_body_or_secret_in_the_logs(
    tmp_path: Path, fake: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with telegram_bridge(tmp_path, fake, acknowledgements=True) as bridge:
        fake.fail("getFile", 502, "Bad Gateway")
        first = says(fake, CHAT, BODY)
        sends_document(fake, CHAT, b"%PDF", "statement-4111.pdf", caption=BODY)
        conversation = await conversation_id(bridge)
        await messages_of(bridge, conversation, 2)
        edits(fake, CHAT, first, EDITED)
        fake.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
        await reply(bridge, conversation, NOTE, internal=True)
        await reply(bridge, conversation, REPLY)
        await fake.wait_for(lambda: any(m.text == REPLY for m in fake.sent))
        fake.block(CHAT)
        await reply(bridge, conversation, REPLY + " (again)")
        await fake.wait_for(lambda: any(c.status == 403 for c in fake.calls))
        says(fake, CHAT, "/status")
        await messages_of(bridge, conversation, 6)
    logged = "\n".join(
        record.getMessage() for record in caplog.records if record.levelno >= logging.INFO
    )
    assert "telegram update" in logged  # the logs did capture the conversation's events
    for secret in (BODY, EDITED, REPLY, NOTE, TOKEN, "statement-4111"):
        assert secret not in logged
