"""Threads for a whole mailbox at once, for ``bridge email import``.

The rules are those of :meth:`channels.email.threads.ThreadBook.place`; the mailbox's own
messages are resolved in memory (so a reply stored before its parent still finds it, the
messages being taken oldest first) and the link store is read and written in a few batches
instead of once per message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from channels.email.threads import (
    LAST_IN,
    LATEST,
    MSGID,
    REFS,
    SUBJECT,
    Placement,
    ThreadBook,
    chain,
    clean_subject,
    sender_of,
    thread_key,
)


@dataclass(frozen=True, slots=True)
class Header:
    """What threading needs of one message (``bridge email import`` reads only these)."""

    key: int  # the caller's handle (an IMAP UID)
    message_id: str
    referenced: tuple[str, ...]
    sender: str
    subject: str


class ThreadPlanner:
    """Threads for a whole mailbox at once (``bridge email import``): the rules of
    :meth:`ThreadBook.place`, with the mailbox's own messages resolved in memory and the
    link store read in a few batched calls. ``headers`` must come oldest first."""

    def __init__(self, book: ThreadBook) -> None:
        self._book = book

    async def plan(self, headers: Sequence[Header], batch: int = 500) -> dict[int, Placement]:
        book = self._book
        wanted = sorted({i for h in headers for i in (h.message_id, *h.referenced)})
        known: dict[str, str] = {}
        for start in range(0, len(wanted), batch):
            known |= await book.links.get_links(book.source, MSGID, wanted[start : start + batch])
        latest: dict[str, str] = {}
        if not book.new_subject_new_conversation:
            senders = sorted({h.sender for h in headers})
            for start in range(0, len(senders), batch):
                latest |= await book.links.get_links(
                    book.source, LATEST, senders[start : start + batch]
                )
        placements: dict[int, Placement] = {}
        for header in headers:
            placement = await self._place(header, known, latest)
            placements[header.key] = placement
            known.setdefault(header.message_id, placement.thread_key)
            latest[header.sender] = placement.thread_key
        return placements

    async def _place(
        self, header: Header, known: dict[str, str], latest: dict[str, str]
    ) -> Placement:
        sender = header.sender
        own = known.get(header.message_id)
        if own is not None and sender_of(own) == sender:
            return Placement(own, new=False, how="known")
        for item in header.referenced:
            key = known.get(item)
            if key is not None and sender_of(key) == sender:
                return Placement(key, new=False, how="references")
        by_reference = await self._book.by_subject_reference(sender, header.subject)
        if by_reference is not None:
            return Placement(by_reference, new=False, how="subject")
        if not self._book.new_subject_new_conversation and sender in latest:
            return Placement(latest[sender], new=False, how="latest")
        return Placement(thread_key(sender, header.message_id), new=True, how="new")

    async def remember(
        self, headers: Sequence[Header], placements: dict[int, Placement], batch: int = 500
    ) -> None:
        """Write the links :meth:`ThreadBook.remember_inbound` writes, for all at once."""
        book = self._book
        now = book.clock.now()
        ids: list[tuple[str, str]] = []
        subjects: list[tuple[str, str]] = []
        last: dict[str, str] = {}
        chains: dict[str, list[str]] = {}
        newest: dict[str, str] = {}
        for header in headers:
            placement = placements[header.key]
            key = placement.thread_key
            ids.append((header.message_id, key))
            if placement.new:
                subjects.append((key, clean_subject(header.subject)))
            last[key] = header.message_id
            chains.setdefault(key, []).append(header.message_id)
            newest[header.sender] = key
        keys = sorted(chains)
        stored: dict[str, str] = {}
        for start in range(0, len(keys), batch):
            stored |= await book.links.get_links(book.source, REFS, keys[start : start + batch])
        refs = [(key, chain(stored.get(key, ""), *chains[key])) for key in keys]
        for kind, pairs in (
            (MSGID, ids),
            (SUBJECT, subjects),
            (LAST_IN, list(last.items())),
            (REFS, refs),
            (LATEST, list(newest.items())),
        ):
            for start in range(0, len(pairs), batch):
                await book.links.put_links(book.source, kind, pairs[start : start + batch], now)
