"""Where things are in Slack: each conversation's thread, each mirrored message.

Kept in the link store (so they survive a restart), per channel account, as
``channel:ts`` references (a ts is unique within its channel only):

* ``thread``: conversation id -> the thread's root message;
* ``root``: root message -> conversation id (a reply in a thread finds its conversation);
* ``msg``: message id -> the Slack message that shows it (mirrored, or typed in the thread);
* ``ts``: Slack message -> message id (a deleted or edited thread message finds its reply).

Recent look-ups are cached in memory; the store is the truth.
"""

from __future__ import annotations

from collections import OrderedDict

from bridge.ports import Clock, LinkStore

THREAD, ROOT, MSG, TS = "thread", "root", "msg", "ts"
MAX_CACHED = 20_000


class _Lru:
    def __init__(self) -> None:
        self._items: OrderedDict[str, str] = OrderedDict()

    def get(self, key: str) -> str | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: str, value: str) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > MAX_CACHED:
            self._items.popitem(last=False)


class Threads:
    def __init__(self, links: LinkStore, source: str, clock: Clock) -> None:
        self._links = links
        self._source = source
        self._clock = clock
        self._cache = {kind: _Lru() for kind in (THREAD, ROOT, MSG, TS)}

    async def _get(self, kind: str, key: str) -> str | None:
        cached = self._cache[kind].get(key)
        if cached is not None:
            return cached
        found = (await self._links.get_links(self._source, kind, [key])).get(key)
        if found is not None:
            self._cache[kind].put(key, found)
        return found

    async def _put(self, kind: str, pairs: list[tuple[str, str]]) -> None:
        await self._links.put_links(self._source, kind, pairs, self._clock.now())
        for key, value in pairs:
            self._cache[kind].put(key, value)

    async def thread_of(self, conversation_id: int) -> str | None:
        return await self._get(THREAD, str(conversation_id))

    async def conversation_of(self, root_ref: str) -> int | None:
        found = await self._get(ROOT, root_ref)
        return int(found) if found is not None else None

    async def set_thread(self, conversation_id: int, root_ref: str) -> None:
        await self._put(THREAD, [(str(conversation_id), root_ref)])
        await self._put(ROOT, [(root_ref, str(conversation_id))])

    async def ref_of(self, message_id: int) -> str | None:
        return await self._get(MSG, str(message_id))

    async def message_of(self, ref: str) -> int | None:
        found = await self._get(TS, ref)
        return int(found) if found is not None else None

    async def set_message(self, message_id: int, ref: str, *, typed: bool) -> None:
        """Remember where ``message_id`` shows; ``typed`` when an agent wrote it in Slack
        (so its deletion or edit in Slack finds the reply)."""
        await self._put(MSG, [(str(message_id), ref)])
        if typed:
            await self._put(TS, [(ref, str(message_id))])
