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
from datetime import datetime
from functools import cache
from typing import Any

from bridge import events
from bridge.events import Event, event_payload


def _all_kinds() -> dict[str, type[Event]]:
    # From the module's namespace, not Event.__subclasses__(): a slotted dataclass replaces
    # its class, and the replaced one would still be listed there.
    return {
        value.kind: value
        for value in vars(events).values()
        if isinstance(value, type) and issubclass(value, Event) and value is not Event
    }


def encode(event: Event) -> bytes:
    return json.dumps(event_payload(event), separators=(",", ":")).encode()


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


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(cls: type, data: Any) -> Any:
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__} must be an object")
    hints = _hints(cls)
    values = {}
    for field in dataclasses.fields(cls):
        if field.name.startswith("_") or field.name not in data:
            continue
        values[field.name] = _value(hints[field.name], data[field.name])
    return cls(**values)


def _value(hint: Any, raw: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if raw is None and type(None) in options:
            return None
        for option in options:
            if option is not type(None):
                return _value(option, raw)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_value(args[0], item) for item in raw)
        return tuple(_value(a, item) for a, item in zip(args, raw, strict=True))
    if origin is frozenset:
        (arg,) = typing.get_args(hint)
        return frozenset(_value(arg, item) for item in raw)
    if origin is dict:
        key_type, value_type = typing.get_args(hint)
        return {_value(key_type, k): _value(value_type, v) for k, v in raw.items()}
    if origin is typing.Literal:
        return raw
    if isinstance(hint, type):
        if dataclasses.is_dataclass(hint):
            return _build(hint, raw)
        if issubclass(hint, enum.Enum):
            return hint(raw)
        if hint is datetime:
            return datetime.fromisoformat(raw)
        if hint is float and isinstance(raw, int):
            return float(raw)
    return raw
