"""The pacer and the Web API edge against the fake Slack: order, spacing, Retry-After."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bridge.errors import PermanentChannelError, TransientChannelError
from channels.slack.api import SlackApi, SlackFailure
from channels.slack.errors import HealthBoard
from channels.slack.pacing import Pacer
from tests.slack.fake_web_api import BOT_TOKEN, FakeSlack

CHANNEL = "C0SUPPORT"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = FakeSlack()
    server.add_channel(CHANNEL, "support")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def api(fake: FakeSlack) -> AsyncIterator[SlackApi]:
    async with aiohttp.ClientSession() as session:
        client = AsyncWebClient(token=BOT_TOKEN, base_url=fake.base_url, session=session)
        yield SlackApi(client, Pacer(rate=20.0), HealthBoard())


async def test_posts_to_a_channel_go_out_in_order_and_spaced(
    fake: FakeSlack, api: SlackApi
) -> None:
    await asyncio.gather(*(api.post(CHANNEL, f"m{n}") for n in range(5)))
    posts = fake.calls_of("chat.postMessage")
    assert [c.args["text"] for c in posts] == [f"m{n}" for n in range(5)]
    gaps = [b.at - a.at for a, b in itertools.pairwise(posts)]
    assert min(gaps) >= 0.05 * 0.9  # 20 per second
    assert all(c.args["unfurl_links"] is False for c in posts)


async def test_a_429_holds_the_channel_for_retry_after_then_the_post_goes_out(
    fake: FakeSlack, api: SlackApi
) -> None:
    fake.ratelimit("chat.postMessage", retry_after=1)
    started = asyncio.get_running_loop().time()
    ts = await api.post(CHANNEL, "after the limit")
    assert asyncio.get_running_loop().time() - started >= 0.95
    assert fake.message(CHANNEL, ts).text == "after the limit"
    assert [c.status for c in fake.calls_of("chat.postMessage")] == [429, 200]
    assert api.pacer.limited == 1


async def test_without_retrying_a_429_becomes_a_transient_error_with_retry_after(
    fake: FakeSlack, api: SlackApi
) -> None:
    fake.ratelimit("chat.postMessage", retry_after=7)
    with pytest.raises(SlackFailure) as caught:
        await api.post(CHANNEL, "x", retry_limited=False)
    error = caught.value.failure.as_channel_error()
    assert isinstance(error, TransientChannelError)
    assert error.retry_after == 7
    assert api.pacer.held_for(f"post:{CHANNEL}") > 6


async def test_setup_failures_are_permanent_and_say_what_to_do(
    fake: FakeSlack, api: SlackApi
) -> None:
    fake.add_channel("C0OLD", "old", archived=True)
    with pytest.raises(SlackFailure) as caught:
        await api.post("C0OLD", "x")
    error = caught.value.failure.as_channel_error()
    assert isinstance(error, PermanentChannelError)
    assert "archived" in error.reason
    state = api.health.state()
    assert state.health.value == "degraded"
    assert "C0OLD" in state.detail
    fake.channels["C0OLD"]["is_archived"] = False
    await api.post("C0OLD", "x")
    assert api.health.problems == []


async def test_missing_scope_names_the_scope(fake: FakeSlack, api: SlackApi) -> None:
    fake.fail("reactions.add", "missing_scope", needed="reactions:write", provided="chat:write")
    ts = await api.post(CHANNEL, "x")
    with pytest.raises(SlackFailure):
        await api.react(CHANNEL, ts, "white_check_mark")
    assert "reactions:write" in api.health.state().detail


async def test_a_server_error_is_transient(fake: FakeSlack, api: SlackApi) -> None:
    fake.fail("chat.postMessage", "internal_error", status=500)
    with pytest.raises(SlackFailure) as caught:
        await api.post(CHANNEL, "x")
    assert caught.value.failure.kind == "transient"


async def test_a_wrong_token_takes_the_channel_down(fake: FakeSlack) -> None:
    async with aiohttp.ClientSession() as session:
        client = AsyncWebClient(token="xoxb-wrong", base_url=fake.base_url, session=session)
        api = SlackApi(client, Pacer(rate=1.0), HealthBoard())
        with pytest.raises(SlackFailure):
            await api.auth_test()
    state = api.health.state()
    assert state.health.value == "down"
    assert "bot_token" in state.detail


async def test_look_ups_of_different_users_do_not_wait_for_each_other(
    fake: FakeSlack, api: SlackApi
) -> None:
    """A customer's first message waits for users.info before Slack is answered, so one
    slow look-up must not hold up the others (they are not posts: nothing to pace)."""
    for n in range(5):
        fake.add_user(f"U{n}", f"User {n}")
    fake.delays["users.info"] = 0.2
    found = await asyncio.gather(*(api.user(f"U{n}") for n in range(5)))
    assert [u["id"] for u in found] == [f"U{n}" for n in range(5)]
    assert fake.most_in_flight["users.info"] == 5
