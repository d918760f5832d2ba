"""Who a Slack user is: a profile (name, email) for customers, an agent for thread replies.

Profiles come from ``users.info`` and are cached for ``user_cache_seconds``; a failed look-up
falls back to the user id as the name (the message is not lost over a profile).

An agent is found by the explicit mapping (``bridge agent add --slack-user U…``) first, then
by the profile's email — only an address Slack confirmed (``is_email_confirmed``), since a
match makes this Slack user speak for that agent.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import datetime, timedelta

from bridge.model import Agent
from bridge.ports import AgentStore, Clock
from channels.slack.api import SlackApi, SlackFailure
from channels.slack.convert import Profile, profile_of

log = logging.getLogger(__name__)

MAX_CACHED = 10_000
#: How long "is this Slack user one of our agents?" is remembered for customer channels,
#: where every message asks it (agents writing there are not customers).
AGENT_CHECK_SECONDS = 60.0


class Directory:
    def __init__(self, api: SlackApi, agents: AgentStore, clock: Clock, ttl: float) -> None:
        self._api = api
        self._agents = agents
        self._clock = clock
        self._ttl = timedelta(seconds=ttl)
        self._profiles: OrderedDict[str, tuple[datetime, Profile]] = OrderedDict()
        self._agent_checks: OrderedDict[str, tuple[datetime, bool]] = OrderedDict()

    async def profile(self, user_id: str) -> Profile:
        now = self._clock.now()
        cached = self._profiles.get(user_id)
        if cached is not None and now - cached[0] < self._ttl:
            self._profiles.move_to_end(user_id)
            return cached[1]
        try:
            profile = profile_of(await self._api.user(user_id))
        except SlackFailure as error:
            log.warning("users.info for %s failed: %s", user_id, error.failure.code)
            return cached[1] if cached is not None else Profile(user_id, user_id)
        self._profiles[user_id] = (now, profile)
        self._profiles.move_to_end(user_id)
        while len(self._profiles) > MAX_CACHED:
            self._profiles.popitem(last=False)
        return profile

    async def names(self, user_ids: list[str]) -> dict[str, str]:
        return {uid: (await self.profile(uid)).name for uid in user_ids}

    async def is_agent(self, user_id: str) -> bool:
        """Whether ``user_id`` is mapped to an agent explicitly; remembered for a minute, since
        customer channels ask for every message (thread replies ask :meth:`agent_for`)."""
        now = self._clock.now()
        cached = self._agent_checks.get(user_id)
        if cached is not None and now - cached[0] < timedelta(seconds=AGENT_CHECK_SECONDS):
            return cached[1]
        found = await self._agents.agent_by_slack_user(user_id) is not None
        self._agent_checks[user_id] = (now, found)
        self._agent_checks.move_to_end(user_id)
        while len(self._agent_checks) > MAX_CACHED:
            self._agent_checks.popitem(last=False)
        return found

    async def agent_for(self, user_id: str) -> Agent | None:
        agent = await self._agents.agent_by_slack_user(user_id)
        if agent is not None:
            return agent
        profile = await self.profile(user_id)
        if profile.email is None or not profile.email_confirmed or profile.is_bot:
            return None
        return await self._agents.agent_by_email(profile.email)
