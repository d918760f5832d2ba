"""Setup problems show on /readyz with what to do; the other channels keep working; the
mirror loses nothing across a rate limit, a setup fix or a restart."""

from __future__ import annotations

from pathlib import Path

from runtime.app import Runtime
from tests.harness import test_settings as bridge_settings
from tests.slack.fake_web_api import FakeSlack
from tests.slack.support import SHARED, SUPERVISORS, SUPPORT, slack_bridge, slack_settings


async def test_an_archived_support_channel_shows_on_readyz_and_web_chat_still_works(
    tmp_path: Path,
) -> None:
    def archive(fake: FakeSlack) -> None:
        fake.add_channel(SUPPORT, "support", archived=True)

    async with slack_bridge(tmp_path, prepare=archive) as s:
        state = (await s.readyz())["components"]["channel:slack:default"]
        assert state["health"] == "degraded"
        assert f"{SUPPORT} is archived" in state["detail"]
        visitor = await s.visitor("Ana Lima")
        echo = await visitor.say("web chat works", "a")
        assert echo["text"] == "web chat works"

        # Unarchived: the mirror's retry posts the thread, and the channel is healthy again.
        s.fake.channels[SUPPORT]["is_archived"] = False
        conversation = await s.only_conversation()
        await s.root_of(conversation.id)
        state = (await s.readyz())["components"]["channel:slack:default"]
        assert state["health"] == "ok"
        await visitor.ws.close()


async def test_a_bot_outside_the_channel_is_told_to_invite_it(tmp_path: Path) -> None:
    def outside(fake: FakeSlack) -> None:
        fake.add_channel(SUPPORT, "support", member=False)

    async with slack_bridge(tmp_path, prepare=outside) as s:
        state = (await s.readyz())["components"]["channel:slack:default"]
        assert state["health"] == "degraded"
        assert "/invite @bridge" in state["detail"]


async def test_a_missing_scope_is_named(tmp_path: Path) -> None:
    def no_scope(fake: FakeSlack) -> None:
        fake.fail(
            "conversations.info",
            "missing_scope",
            times=3,
            needed="channels:read",
            provided="chat:write",
        )

    async with slack_bridge(tmp_path, prepare=no_scope) as s:
        state = (await s.readyz())["components"]["channel:slack:default"]
        assert state["health"] == "degraded"
        assert "lacks the scope channels:read" in state["detail"]
        assert "slack-app-manifest.yml" in state["detail"]


async def test_an_invalid_token_takes_slack_down_and_nothing_else(tmp_path: Path) -> None:
    def wrong_token(fake: FakeSlack) -> None:
        fake.token = "xoxb-some-other-token"

    async with slack_bridge(tmp_path, prepare=wrong_token) as s:
        ready = await s.readyz()
        state = ready["components"]["channel:slack:default"]
        assert state["health"] == "down"
        assert "channels.slack.bot_token" in state["detail"]
        assert ready["components"]["channel:webchat:default"]["health"] == "ok"
        visitor = await s.visitor("Ana Lima")
        await visitor.say("still here", "a")
        await visitor.ws.close()


async def test_rate_limits_keep_thread_order(tmp_path: Path) -> None:
    async with slack_bridge(tmp_path) as s:
        visitor = await s.visitor("Ana Lima")
        await visitor.say("one", "1")
        conversation = await s.only_conversation()
        root_ts = await s.root_of(conversation.id)
        s.fake.ratelimit("chat.postMessage", retry_after=1)
        for n, text in enumerate(["two", "three", "four"]):
            await visitor.say(text, f"m{n}")
        await s.wait(lambda: len(s.fake.in_thread(SUPPORT, root_ts)) == 4)
        assert [p.text for p in s.fake.in_thread(SUPPORT, root_ts)] == [
            "one",
            "two",
            "three",
            "four",
        ]
        statuses = [c.status for c in s.fake.calls_of("chat.postMessage")]
        assert statuses.count(429) == 1
        await visitor.ws.close()


async def test_after_a_restart_the_mirror_catches_up_from_its_cursor(tmp_path: Path) -> None:
    async with slack_bridge(tmp_path) as s:
        visitor = await s.visitor("Ana Lima")
        await visitor.say("before the restart", "a")
        conversation = await s.only_conversation()
        root_ts = await s.root_of(conversation.id)
        await visitor.ws.close()
        agent = s.bridge.agent
        old = s.fake

    # Written while the Slack channel is off: the bridge runs without it.
    runtime = Runtime(bridge_settings(tmp_path))
    await runtime.start()
    try:
        await runtime.service.reply(
            conversation.id, agent, "written while Slack was off", internal=True
        )
    finally:
        await runtime.stop()

    # Back on, same database; Slack still has the thread's root: the note is caught up.
    new = FakeSlack()
    for channel in (SUPPORT, SUPERVISORS, SHARED):
        new.add_channel(channel, channel.lower())
    new.posted = old.roots(SUPPORT)
    await new.start()
    runtime = Runtime(bridge_settings(tmp_path, channels={"slack": slack_settings(new)}))
    await runtime.start()
    try:
        await new.wait_for(lambda: new.in_thread(SUPPORT, root_ts), 10.0)
        [caught_up] = new.in_thread(SUPPORT, root_ts)
        assert caught_up.text == "🔒 written while Slack was off"
        posts = new.calls_of("chat.postMessage")
        assert all(c.args.get("thread_ts") == root_ts for c in posts)  # no second root
    finally:
        await runtime.stop()
        await new.stop()
