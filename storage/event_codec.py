"""Events to bytes and back, for the Redis bus.

Events are frozen dataclasses of model values; :func:`bridge.events.to_plain` already turns
them into JSON-ready data, and :func:`decode` rebuilds them from the dataclasses' own type
hints, so a new event kind needs no code here.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cache
from typing import Any

from bridge import events
from bridge.events import Event


def _all_kinds() -> dict[str, type[Event]]:
    # From the module's namespace, not Event.__subclasses__(): a slotted dataclass replaces
    # its class, and the replaced one would still be listed there.
    return {
        value.kind: value
        for value in vars(events).values()
        if isinstance(value, type) and issubclass(value, Event) and value is not Event
    }


def encode(event: Event) -> bytes:
    """What :func:`bridge.events.event_payload` gives, as JSON bytes."""
    payload = _plain(event)
    payload["kind"] = event.kind
    return json.dumps(payload, separators=(",", ":")).encode()


def _plain(value: Any) -> Any:
    cls: Any = type(value)  # a key of the cache like any other
    return _encoder(cls)(value)


@cache
def _encoder(cls: Any) -> Callable[[Any], Any]:
    """:func:`bridge.events.to_plain` for one type, its type questions answered once."""
    if dataclasses.is_dataclass(cls):
        names = [f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")]
        return lambda value: {name: _plain(getattr(value, name)) for name in names}
    if issubclass(cls, enum.Enum):
        return lambda value: value.value
    if issubclass(cls, datetime):
        return datetime.isoformat
    if issubclass(cls, tuple | list):
        return lambda value: [_plain(item) for item in value]
    if issubclass(cls, Mapping):
        return lambda value: {str(k): _plain(v) for k, v in value.items()}
    return _same


def decode(raw: bytes | str) -> Event:
    """The event back; raises ValueError or TypeError for an unknown kind or a payload that
    does not fit."""
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise TypeError("an event must be a JSON object")
    kind = data.pop("kind", None)
    cls = _kinds().get(str(kind))
    if cls is None:
        raise ValueError(f"unknown event kind {kind!r}")
    value = _build(cls, data)
    assert isinstance(value, Event)
    return value


@cache
def _kinds() -> dict[str, type[Event]]:
    return _all_kinds()


def _build(cls: type, data: Any) -> Any:
    return _converter(cls)(data)


# Decoding walks the dataclasses' type hints; done for every event of every process it cost
# more than handling the event, so each type's walk is done once into a converter function.
@cache
def _converter(hint: Any) -> Callable[[Any], Any]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [o for o in typing.get_args(hint) if o is not type(None)]
        inner = _converter(options[0])
        return lambda raw: None if raw is None else inner(raw)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            item = _converter(args[0])
            return lambda raw: tuple(item(x) for x in raw)
        items = [_converter(a) for a in args]
        return lambda raw: tuple(c(x) for c, x in zip(items, raw, strict=True))
    if origin is frozenset:
        (arg,) = typing.get_args(hint)
        member = _converter(arg)
        return lambda raw: frozenset(member(x) for x in raw)
    if origin is dict:
        key_type, value_type = typing.get_args(hint)
        key, value = _converter(key_type), _converter(value_type)
        return lambda raw: {key(k): value(v) for k, v in raw.items()}
    if origin is typing.Literal or not isinstance(hint, type):
        return _same
    if dataclasses.is_dataclass(hint):
        return _dataclass(hint)
    if issubclass(hint, enum.Enum):
        return hint
    if hint is datetime:
        return datetime.fromisoformat
    if hint is float:
        return lambda raw: float(raw) if isinstance(raw, int) else raw
    return _same


def _same(raw: Any) -> Any:
    return raw


def _dataclass(cls: type) -> Callable[[Any], Any]:
    hints = typing.get_type_hints(cls)
    fields = [
        (field.name, _converter(hints[field.name]))
        for field in dataclasses.fields(cls)
        if not field.name.startswith("_")
    ]

    def build(data: Any) -> Any:
        if not isinstance(data, dict):
            raise TypeError(f"{cls.__name__} must be an object")
        return cls(**{name: convert(data[name]) for name, convert in fields if name in data})

    return build
