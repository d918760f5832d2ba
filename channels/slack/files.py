"""Files people share in Slack, copied into the bridge's file store.

Slack serves them at ``url_private_download`` to requests carrying the bot token (scope
``files:read``) — https://docs.slack.dev/messaging/working-with-files#downloading. A file that
is too large or cannot be fetched does not lose the message: it becomes a line of text
saying so.
"""

from __future__ import annotations

import logging

from bridge.errors import FileTooLarge
from bridge.model import Attachment
from bridge.ports import FileStore
from channels.slack.api import SlackApi, SlackFailure
from channels.slack.convert import SlackFile, human_size

log = logging.getLogger(__name__)


async def fetch_files(
    api: SlackApi, store: FileStore, files: tuple[SlackFile, ...]
) -> tuple[tuple[Attachment, ...], list[str]]:
    """The files as attachments, and a line for each one left behind."""
    attachments: list[Attachment] = []
    missing: list[str] = []
    for file in files:
        if file.size > store.max_bytes:
            missing.append(f"[file {file.name} ({human_size(file.size)}) is too large]")
            continue
        try:
            data = await api.download(file.url, store.max_bytes)
            if data is not None:
                saved = await store.save(data, name=file.name, content_type=file.mimetype)
                attachments.append(saved)
                continue
        except FileTooLarge:
            missing.append(f"[file {file.name} is too large]")
        except SlackFailure as error:
            log.warning("file %s could not be fetched: %s", file.id, error.failure.code)
            missing.append(f"[file {file.name} could not be fetched]")
            continue
        missing.append(f"[file {file.name} is too large]")
    return tuple(attachments), missing
