"""The app manifest asks for every scope, event and command the channel uses, at the paths
the bridge serves."""

from __future__ import annotations

import re
from pathlib import Path

from channels.slack.adapter import SlackAdapter
from channels.slack.settings import SlackSettings

MANIFEST = Path(__file__).parents[2] / "config" / "slack-app-manifest.yml"

#: Web API methods the channel calls, with the bot scopes they need
#: (https://docs.slack.dev/reference/methods), and the events it handles.
NEEDED_SCOPES = {
    "chat.postMessage / chat.update / chat.postEphemeral": {"chat:write"},
    "username and icon of mirrored messages": {"chat:write.customize"},
    "reactions.add": {"reactions:write"},
    "users.info with email": {"users:read", "users:read.email"},
    "conversations.info": {"channels:read", "groups:read", "im:read"},
    "message events": {"channels:history", "groups:history", "im:history"},
    "file downloads and uploads": {"files:read", "files:write"},
    "/queue": {"commands"},
}
NEEDED_EVENTS = {"message.channels", "message.groups", "message.im", "app_uninstalled"}


def listed(text: str, section: str) -> set[str]:
    """The ``- item`` lines right under ``section:``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"{section}:")
    indent = len(lines[start + 1]) - len(lines[start + 1].lstrip())
    items: set[str] = set()
    for line in lines[start + 1 :]:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if len(line) - len(line.lstrip()) < indent or not stripped.startswith("- "):
            break
        items.add(stripped[2:].strip())
    return items


def test_every_scope_and_event_is_requested() -> None:
    text = MANIFEST.read_text()
    scopes = listed(text, "bot")
    for use, needed in NEEDED_SCOPES.items():
        assert needed <= scopes, f"{use} needs {needed - scopes}"
    assert listed(text, "bot_events") >= NEEDED_EVENTS


def test_the_urls_are_the_routes_the_bridge_serves() -> None:
    text = MANIFEST.read_text()
    paths = set(re.findall(r"https://bridge\.example\.com(/\S+)", text))
    served = {route.path for route in SlackAdapter(SlackSettings(), None).routes()}  # type: ignore[arg-type]
    assert paths == served
    assert "- command: /queue" in text
    assert "messages_tab_enabled: true" in text  # customers can DM the app
