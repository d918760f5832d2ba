"""A typed IMAP session over aioimaplib: login, SELECT, UID SEARCH/FETCH/STORE/MOVE, IDLE.

aioimaplib returns untyped ``Response(result, lines)`` tuples; this module turns them into
values and raises :class:`ImapError` for anything that should make the caller reconnect
(a NO/BAD reply, a lost connection, a timeout).

Protocol references: IMAP4rev1 (https://www.rfc-editor.org/rfc/rfc3501), IDLE
(https://www.rfc-editor.org/rfc/rfc2177: clients re-issue it before 29 minutes), MOVE
(https://www.rfc-editor.org/rfc/rfc6851), UIDPLUS (https://www.rfc-editor.org/rfc/rfc4315).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aioimaplib  # type: ignore[import-untyped]

from channels.email.settings import EmailSettings

_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_UIDNEXT = re.compile(rb"\[UIDNEXT (\d+)\]")
_FETCH = re.compile(rb"^\d+ FETCH \(")
_UID = re.compile(rb"\bUID (\d+)")
_STOP = aioimaplib.STOP_WAIT_SERVER_PUSH


class ImapError(Exception):
    """The session is unusable or the server refused: reconnect (with backoff) and retry."""


@dataclass(frozen=True, slots=True)
class Selected:
    mailbox: str
    uidvalidity: int
    uidnext: int | None


def uid_set(uids: Iterable[int]) -> str:
    """``1:3,7,9:10`` for [1, 2, 3, 7, 9, 10]."""
    ordered = sorted(set(uids))
    ranges: list[str] = []
    start = previous = None
    for uid in ordered:
        if previous is not None and uid == previous + 1:
            previous = uid
            continue
        if start is not None:
            ranges.append(str(start) if start == previous else f"{start}:{previous}")
        start = previous = uid
    if start is not None:
        ranges.append(str(start) if start == previous else f"{start}:{previous}")
    return ",".join(ranges)


def parse_fetch(lines: Sequence[Any]) -> list[tuple[int, bytes]]:
    """(UID, literal) pairs of a ``UID FETCH`` response, in server order.

    aioimaplib gives each message as the ``n FETCH (... {size}`` line, the literal as a
    bytearray, then the closing line; the UID may come before or after the literal.
    """
    found: list[tuple[int, bytes]] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if isinstance(line, bytes) and _FETCH.match(line):
            literal = lines[index + 1] if index + 1 < len(lines) else None
            if isinstance(literal, bytearray):
                match = _UID.search(line)
                closing = lines[index + 2] if index + 2 < len(lines) else b""
                if match is None and isinstance(closing, bytes):
                    match = _UID.search(closing)
                if match is not None:
                    found.append((int(match.group(1)), bytes(literal)))
                index += 2
                continue
        index += 1
    return found


class ImapSession:
    """One logged-in connection. Not safe for concurrent commands: one owner at a time."""

    def __init__(self, settings: EmailSettings) -> None:
        self._settings = settings
        self._client: Any = None
        self._lost = asyncio.Event()
        self.selected: Selected | None = None

    async def connect(self) -> None:
        settings = self._settings
        context = None
        if settings.imap_security == "ssl":
            context = ssl.create_default_context(cafile=settings.ca_file or None)
        client = aioimaplib.IMAP4(
            host=settings.imap_host,
            port=settings.imap_port,
            timeout=settings.timeout_seconds,
            conn_lost_cb=self._connection_lost,
            ssl_context=context,
        )
        self._client = client
        try:
            await client.wait_hello_from_server()
            response = await client.login(settings.username, settings.password)
        except (OSError, TimeoutError, aioimaplib.AioImapException) as error:
            raise ImapError(f"connecting to {settings.imap_host}: {_describe(error)}") from error
        if response.result != "OK":
            raise ImapError(f"login refused: {_text(response.lines)}")

    def _connection_lost(self, error: Exception | None) -> None:
        self._lost.set()

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def has(self, capability: str) -> bool:
        return bool(self._client is not None and self._client.has_capability(capability))

    async def _call(self, what: str, coroutine: Any, *, ok: bool = True) -> Any:
        if self._lost.is_set():
            coroutine.close()
            raise ImapError("the connection was lost")
        try:
            async with asyncio.timeout(self._settings.timeout_seconds * 4):
                response = await coroutine
        except (OSError, TimeoutError, aioimaplib.AioImapException) as error:
            raise ImapError(f"{what}: {_describe(error)}") from error
        if ok and response.result != "OK":
            raise ImapError(f"{what} refused: {_text(response.lines)}")
        return response

    async def select(self, mailbox: str) -> Selected:
        response = await self._call(f"SELECT {mailbox}", self._client.select(_quote(mailbox)))
        validity = uidnext = None
        for line in response.lines:
            if isinstance(line, bytes):
                if match := _UIDVALIDITY.search(line):
                    validity = int(match.group(1))
                if match := _UIDNEXT.search(line):
                    uidnext = int(match.group(1))
        if validity is None:
            raise ImapError(f"SELECT {mailbox}: the server sent no UIDVALIDITY")
        self.selected = Selected(mailbox, validity, uidnext)
        return self.selected

    async def search(self, *criteria: str) -> list[int]:
        response = await self._call("UID SEARCH", self._client.uid_search(*criteria, charset=None))
        uids: list[int] = []
        for line in response.lines[:-1]:
            if isinstance(line, bytes):
                uids += [int(token) for token in line.split() if token.isdigit()]
        return sorted(set(uids))

    async def fetch(
        self, uids: Sequence[int], what: str = "BODY.PEEK[]"
    ) -> list[tuple[int, bytes]]:
        if not uids:
            return []
        response = await self._call(
            "UID FETCH", self._client.uid("fetch", uid_set(uids), f"(UID {what})")
        )
        return parse_fetch(response.lines)

    async def fetch_headers(
        self, uids: Sequence[int], names: Sequence[str]
    ) -> list[tuple[int, bytes]]:
        return await self.fetch(uids, f"BODY.PEEK[HEADER.FIELDS ({' '.join(names)})]")

    async def mark_seen(self, uids: Sequence[int]) -> None:
        await self._call(
            "UID STORE", self._client.uid("store", uid_set(uids), "+FLAGS.SILENT (\\Seen)")
        )

    async def move(self, uids: Sequence[int], folder: str) -> None:
        """UID MOVE, or COPY + \\Deleted + UID EXPUNGE where MOVE is missing (RFC 6851)."""
        if self.has("MOVE"):
            await self._call("UID MOVE", self._client.uid("move", uid_set(uids), _quote(folder)))
            return
        await self._call("UID COPY", self._client.uid("copy", uid_set(uids), _quote(folder)))
        await self._call(
            "UID STORE", self._client.uid("store", uid_set(uids), "+FLAGS.SILENT (\\Deleted)")
        )
        if self.has("UIDPLUS"):
            await self._call("UID EXPUNGE", self._client.uid("expunge", uid_set(uids)))

    async def ensure_folder(self, folder: str) -> None:
        """CREATE the folder; a NO because it exists already is fine."""
        await self._call(f"CREATE {folder}", self._client.create(_quote(folder)), ok=False)

    async def append(self, folder: str, data: bytes, when: datetime, *, seen: bool = True) -> None:
        await self._call(
            f"APPEND {folder}",
            self._client.append(
                data, mailbox=_quote(folder), flags="(\\Seen)" if seen else None, date=when
            ),
        )

    async def idle(self, seconds: float) -> bool:
        """IDLE until the server reports a change or ``seconds`` pass; True for a change.

        The IDLE is always ended (DONE) before returning, so the session is ready for the
        next command; a lost connection raises :class:`ImapError`.
        """
        client = self._client
        try:
            task = await client.idle_start(timeout=seconds)
        except (OSError, TimeoutError, aioimaplib.AioImapException) as error:
            raise ImapError(f"IDLE: {_describe(error)}") from error
        changed = False
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            while True:
                push = asyncio.ensure_future(client.wait_server_push(timeout=seconds + 5))
                done, _ = await asyncio.wait({push, lost}, return_when=asyncio.FIRST_COMPLETED)
                if lost in done:
                    push.cancel()
                    raise ImapError("the connection was lost during IDLE")
                try:
                    lines = push.result()
                except TimeoutError:
                    break
                if lines == _STOP:
                    break
                if any(isinstance(line, bytes) and line.startswith(b"BYE") for line in lines):
                    raise ImapError(f"the server hung up: {_text(lines)}")
                if any(
                    isinstance(line, bytes) and (b"EXISTS" in line or b"RECENT" in line)
                    for line in lines
                ):
                    changed = True
                    break
        finally:
            lost.cancel()
        try:
            client.idle_done()
            await asyncio.wait_for(task, self._settings.timeout_seconds)
        except (OSError, TimeoutError, aioimaplib.AioImapException) as error:
            raise ImapError(f"ending IDLE: {_describe(error)}") from error
        return changed

    async def noop(self) -> None:
        await self._call("NOOP", self._client.noop())

    async def close(self) -> None:
        """Log out politely when the session is idle; otherwise just hang up."""
        client, self._client = self._client, None
        if client is None:
            return
        polite = not self._lost.is_set() and not client.has_pending_idle()
        try:
            # Whatever goes wrong while saying goodbye, the connection is dropped below.
            with contextlib.suppress(Exception):
                if polite and client.get_state() != "LOGOUT":
                    await asyncio.wait_for(client.logout(), 2)
        finally:
            for task in list(client.tasks):
                task.cancel()
            transport = getattr(client.protocol, "transport", None)
            if transport is not None:
                transport.close()


def _quote(mailbox: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9._/-]+", mailbox):
        return mailbox
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(lines: Sequence[Any]) -> str:
    parts = [line.decode("utf-8", "replace") for line in lines if isinstance(line, bytes)]
    return " ".join(parts)[:300]


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
