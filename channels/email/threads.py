"""Email threads: which conversation a message belongs to, and how a reply is threaded.

A thread key is ``<sender address>|<root Message-ID>``: threads are scoped to the sender, so
two people answering one newsletter (same References) get two conversations, and nobody can
join another customer's conversation by quoting its ids.

An incoming message joins a thread when (in this order)

1. its own Message-ID is known already (a refetch after a UIDVALIDITY change);
2. its In-Reply-To or any id of its References names a message of a thread of the same
   sender: a customer message, one of our replies or acknowledgements;
3. its subject carries a conversation reference (``[#1042]``) of an email conversation of
   this mailbox whose customer is the sender;
4. ``new_subject_new_conversation`` is off and the sender has an earlier thread.

Otherwise it starts a thread of its own. What is remembered lives in the channel's link
store (kinds below), so it survives restarts and is shared by every process.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bridge.errors import NotFound
from bridge.ports import Clock, ConversationStore, LinkStore

#: Every Message-ID seen or sent -> the thread key it belongs to.
MSGID = "msgid"
#: Thread key -> the subject of its first message (replies say "Re: <subject> [#ref]").
SUBJECT = "subject"
#: Thread key -> the customer's latest Message-ID (what our reply answers).
LAST_IN = "last_in"
#: Thread key -> the thread's Message-IDs, root first, space-separated (References).
REFS = "refs"
#: Sender address -> their latest thread key (when new subjects join it).
LATEST = "latest"

#: References kept: the root and the newest ones (RFC 5322, section 3.6.4 allows trimming).
MAX_REFERENCES = 20
CHANNEL = "email"

_REFERENCE = re.compile(r"\[#(\d{1,12})\]")
_PREFIX = re.compile(
    r"^\s*((re|fw|fwd|aw|wg|sv|vs|antw|rv|res|enc|tr|ответ|отв|пересл|на)\s*(\[\d+\])?\s*:\s*)+",
    re.IGNORECASE,
)


def thread_key(sender: str, root: str) -> str:
    return f"{sender}|{root}"


def sender_of(key: str) -> str:
    return key.split("|", 1)[0]


def subject_reference(subject: str) -> int | None:
    match = _REFERENCE.search(subject)
    return int(match.group(1)) if match else None


def clean_subject(subject: str) -> str:
    """The subject without reply/forward prefixes and reference tokens."""
    previous = None
    text = subject
    while previous != text:
        previous = text
        text = _PREFIX.sub("", _REFERENCE.sub("", text)).strip()
    return " ".join(text.split())


def reply_subject(subject: str, reference: str) -> str:
    """``Re: <subject> [#1042]``; the token lets a reply thread even when a client drops
    In-Reply-To and References."""
    return f"Re: {clean_subject(subject) or 'your request'} [{reference}]"


def chain(existing: str, *additions: str) -> str:
    """A References chain with ``additions`` appended: the root and the newest ids."""
    ids = [i for i in existing.split() if i]
    for item in additions:
        if item and item not in ids:
            ids.append(item)
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return " ".join(ids)


@dataclass(frozen=True, slots=True)
class Placement:
    thread_key: str
    new: bool  # the message starts its own thread
    how: str  # "known", "references", "subject", "latest" or "new" (logged)


@dataclass(frozen=True, slots=True)
class OutboundThread:
    subject: str
    in_reply_to: str | None
    references: tuple[str, ...]


class ThreadBook:
    """The channel account's memory of email threads, over the link store."""

    def __init__(
        self,
        links: LinkStore,
        conversations: ConversationStore,
        clock: Clock,
        *,
        source: str,
        account: str,
        new_subject_new_conversation: bool = True,
    ) -> None:
        self._links = links
        self._conversations = conversations
        self._clock = clock
        self._source = source
        self._account = account
        self._new_subject_new = new_subject_new_conversation

    async def place(
        self, sender: str, message_id: str, referenced: Sequence[str], subject: str
    ) -> Placement:
        """The thread of an incoming message from ``sender`` (see the module docstring)."""
        ids = [message_id, *referenced]
        known = await self._links.get_links(self._source, MSGID, ids)
        own = known.get(message_id)
        if own is not None and sender_of(own) == sender:
            return Placement(own, new=False, how="known")
        for item in referenced:
            key = known.get(item)
            if key is not None and sender_of(key) == sender:
                return Placement(key, new=False, how="references")
        by_reference = await self.by_subject_reference(sender, subject)
        if by_reference is not None:
            return Placement(by_reference, new=False, how="subject")
        if not self._new_subject_new:
            latest = (await self._links.get_links(self._source, LATEST, [sender])).get(sender)
            if latest is not None:
                return Placement(latest, new=False, how="latest")
        return Placement(thread_key(sender, message_id), new=True, how="new")

    @property
    def links(self) -> LinkStore:
        return self._links

    @property
    def source(self) -> str:
        return self._source

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def new_subject_new_conversation(self) -> bool:
        return self._new_subject_new

    async def by_subject_reference(self, sender: str, subject: str) -> str | None:
        """The thread of the email conversation named in the subject (``[#1042]``) when it
        is this mailbox's and the sender's own."""
        number = subject_reference(subject)
        if number is None:
            return None
        try:
            conversation = await self._conversations.get_conversation(number)
        except NotFound:
            return None
        origin = conversation.origin
        if origin.channel != CHANNEL or origin.account != self._account:
            return None
        if sender_of(origin.thread_key) != sender:
            return None  # the reference belongs to someone else's conversation
        return origin.thread_key

    async def remember_inbound(
        self, placement: Placement, message_id: str, subject: str, *, latest: bool = True
    ) -> None:
        """Record an incoming message before it is stored, so a crash in between cannot
        leave a stored message whose id threads nowhere."""
        key = placement.thread_key
        now = self._clock.now()
        stored = await self._links.get_links(self._source, REFS, [key])
        if placement.new:
            await self._links.put_links(self._source, SUBJECT, [(key, clean_subject(subject))], now)
        await self._links.put_links(self._source, MSGID, [(message_id, key)], now)
        await self._links.put_links(self._source, LAST_IN, [(key, message_id)], now)
        await self._links.put_links(
            self._source, REFS, [(key, chain(stored.get(key, ""), message_id))], now
        )
        if latest:
            await self._links.put_links(self._source, LATEST, [(sender_of(key), key)], now)

    async def outbound(self, key: str, reply_to: str | None) -> OutboundThread:
        """Subject and threading headers for our next message in thread ``key``."""
        subjects = await self._links.get_links(self._source, SUBJECT, [key])
        last = await self._links.get_links(self._source, LAST_IN, [key])
        refs = await self._links.get_links(self._source, REFS, [key])
        root = key.split("|", 1)[1] if "|" in key else ""
        references = chain(root, *refs.get(key, "").split())
        return OutboundThread(
            subject=subjects.get(key, ""),
            in_reply_to=reply_to or last.get(key) or (root or None),
            references=tuple(references.split()),
        )

    async def remember_outbound(self, key: str, message_id: str) -> None:
        now = self._clock.now()
        await self._links.put_links(self._source, MSGID, [(message_id, key)], now)
        stored = await self._links.get_links(self._source, REFS, [key])
        await self._links.put_links(
            self._source, REFS, [(key, chain(stored.get(key, ""), message_id))], now
        )
