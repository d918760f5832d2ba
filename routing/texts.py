"""The texts the bridge sends to customers on its own, in their language.

Six kinds, each a ``str.format`` template per language:

- ``ack``: the message arrived, its reference, the place in line and the expected wait;
- ``ack_closed``: the same outside business hours, with when the team is back;
- ``position``: a later update of the place in line, also the answer to "status";
- ``assigned``: an agent has the conversation now;
- ``escalated``: a specialist takes over;
- ``delayed``: the expected wait slipped.

Operators may replace any default (``overrides[language][kind]``); the replacements are checked
when the configuration loads, so a typo in a placeholder fails the start, not the 3 a.m.
acknowledgement. Each kind may use only the placeholders whose values the caller always has
for it (:data:`ALLOWED`), and must use the ones that make the text honest (:data:`REQUIRED`).

Durations, numbers, weekday and month names come from Babel's CLDR data; what CLDR lacks is
the grammar around them ("in less than a minute", Russian "в среду" for "on Wednesday"), which
lives in :data:`_PHRASES`. Estimates are always rounded up: a customer told "2 minutes" who
waits 2 minutes 40 seconds has been misled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from string import Formatter
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import (
    format_date,
    format_skeleton,
    format_time,
    format_timedelta,
    get_timezone_location,
)
from babel.numbers import format_decimal

from routing.language import DEFAULT, SUPPORTED, normalize

KINDS = ("ack", "ack_closed", "position", "assigned", "escalated", "delayed")
PLACEHOLDERS = frozenset({"reference", "position", "eta", "opens_at", "agent"})

#: The placeholders a kind's template may use: the caller promises these values for the kind.
ALLOWED: Mapping[str, frozenset[str]] = {
    "ack": frozenset({"reference", "position", "eta"}),
    "ack_closed": frozenset({"reference", "opens_at", "position"}),
    "position": frozenset({"reference", "position", "eta"}),
    "assigned": frozenset({"reference", "agent"}),
    "escalated": frozenset({"reference", "eta"}),
    "delayed": frozenset({"reference", "position", "eta"}),
}

#: The placeholders a kind's template must use, or it would not say what it is sent to say.
REQUIRED: Mapping[str, frozenset[str]] = {
    "ack": frozenset({"reference", "position", "eta"}),
    "ack_closed": frozenset({"reference", "opens_at"}),
    "position": frozenset({"position"}),
    "assigned": frozenset({"agent"}),
    "escalated": frozenset({"reference"}),
    "delayed": frozenset({"eta"}),
}

_DEFAULTS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "ack": (
            "Thanks for getting in touch! Your message has reached us, and your reference is "
            "{reference}. You're number {position} in line, and the expected wait is {eta}."
        ),
        "ack_closed": (
            "Thanks for getting in touch! Your message has reached us, and your reference is "
            "{reference}. Our team is away right now and will be back {opens_at}; we'll pick "
            "up your conversation as soon as we're in."
        ),
        "position": (
            "An update on {reference}: you're number {position} in line, and the expected "
            "wait is {eta}. Thanks for bearing with us!"
        ),
        "assigned": (
            "Good news: {agent} has picked up your conversation {reference} and will reply "
            "right here."
        ),
        "escalated": (
            "Your question needs a specialist, so we've passed {reference} to a colleague who "
            "knows this area best. They'll reply right here; there's no need to write again."
        ),
        "delayed": (
            "Sorry, this is taking longer than we expected. We haven't forgotten {reference}: "
            "the new expected wait is {eta}. Thank you for your patience."
        ),
    },
    "ru": {
        "ack": (
            "Спасибо, что написали! Мы получили ваше сообщение, номер обращения — {reference}. "
            "Ваше место в очереди: {position}. Ожидаемое время ответа: {eta}."
        ),
        "ack_closed": (
            "Спасибо, что написали! Мы получили ваше сообщение, номер обращения — {reference}. "
            "Сейчас у нас нерабочее время: мы вернёмся {opens_at} и сразу займёмся вашим "
            "вопросом."
        ),
        "position": (
            "Обращение {reference} в очереди, ваше место — {position}. Ожидаемое время "
            "ответа: {eta}. Спасибо, что ждёте!"
        ),
        "assigned": (
            "Хорошие новости: вашим обращением {reference} уже занимается {agent}. Ответ "
            "придёт прямо сюда."
        ),
        "escalated": (
            "Вашим вопросом лучше займётся специалист, поэтому мы передали ему обращение "
            "{reference}. Ответ придёт прямо сюда — писать ещё раз не нужно."
        ),
        "delayed": (
            "Извините, ответ занимает больше времени, чем мы рассчитывали. Мы помним о вашем "
            "обращении {reference}. Новое ожидаемое время ответа: {eta}. Спасибо за терпение!"
        ),
    },
    # Worded to read naturally in both Brazil and Portugal: "a sua", no gerunds, no "você".
    "pt": {
        "ack": (
            "Obrigado pela sua mensagem, ela chegou até nós! O número do seu atendimento é "
            "{reference}. A sua posição na fila é {position}, e o tempo estimado de resposta "
            "é de {eta}."
        ),
        "ack_closed": (
            "Obrigado pela sua mensagem, ela chegou até nós! O número do seu atendimento é "
            "{reference}. Neste momento estamos fora do horário de atendimento, mas voltamos "
            "{opens_at} e respondemos logo em seguida."
        ),
        "position": (
            "O seu atendimento {reference} está na fila, na posição {position}. Tempo "
            "estimado de resposta: {eta}. Obrigado por aguardar!"
        ),
        "assigned": (
            "Boa notícia: {agent} já está com o seu atendimento {reference} e vai responder "
            "por aqui."
        ),
        "escalated": (
            "A sua questão precisa de um especialista, por isso o atendimento {reference} foi "
            "encaminhado para quem conhece melhor o assunto. A resposta chegará por aqui, não "
            "é preciso escrever de novo."
        ),
        "delayed": (
            "Desculpe a demora, a resposta vai levar mais tempo do que esperávamos. Não nos "
            "esquecemos do seu atendimento {reference}: o novo tempo estimado é de {eta}. "
            "Obrigado pela paciência!"
        ),
    },
}


@dataclass(frozen=True, slots=True)
class _Phrases:
    """The grammar around Babel's words, which CLDR does not carry."""

    locale: str
    less_than_a_minute: str
    about: str  # wraps a rounded-up duration of hours or days: {duration}
    today: str  # {time}
    tomorrow: str  # {time}
    weekday: str  # {weekday} {time}
    date: str  # {date} {time}, for openings a week or more away
    # Monday to Sunday as the sentence needs them, where CLDR's nominative names do not fit.
    weekdays: tuple[str, ...] | None = None


_PHRASES: Mapping[str, _Phrases] = {
    "en": _Phrases(
        locale="en",
        less_than_a_minute="less than a minute",
        about="about {duration}",
        today="today at {time}",
        tomorrow="tomorrow at {time}",
        weekday="{weekday} at {time}",
        date="on {date} at {time}",
    ),
    "ru": _Phrases(
        locale="ru",
        less_than_a_minute="меньше минуты",
        about="примерно {duration}",  # not "около", which would need the genitive
        today="сегодня в {time}",
        tomorrow="завтра в {time}",
        weekday="{weekday} в {time}",
        date="{date} в {time}",  # CLDR's "2 мая" is already in the genitive
        weekdays=(
            "в понедельник",
            "во вторник",
            "в среду",
            "в четверг",
            "в пятницу",
            "в субботу",
            "в воскресенье",
        ),
    ),
    "pt": _Phrases(
        locale="pt",
        less_than_a_minute="menos de um minuto",
        about="cerca de {duration}",
        today="hoje às {time}",
        tomorrow="amanhã às {time}",
        weekday="{weekday} às {time}",
        date="no dia {date} às {time}",
    ),
}


@dataclass(frozen=True, slots=True)
class TextContext:
    """What a text may talk about; ``now`` is the render time, so "today" is testable."""

    reference: str  # "#1042"
    position: int | None  # 1-based; None when not waiting in line
    eta: timedelta | None  # expected time until an agent answers
    opens_at: datetime | None  # aware; when the team opens (outside hours)
    customer_timezone: str | None  # IANA; None (or unknown to tzdata) -> the team's zone
    team_timezone: str  # IANA
    now: datetime  # aware
    agent: str | None = None  # the agent's first name

    def __post_init__(self) -> None:
        if self.now.utcoffset() is None:
            raise ValueError("TextContext.now must be timezone-aware")
        if self.opens_at is not None and self.opens_at.utcoffset() is None:
            raise ValueError("TextContext.opens_at must be timezone-aware")
        if self.position is not None and self.position < 1:
            raise ValueError(f"TextContext.position is 1-based, got {self.position}")


@dataclass(frozen=True, slots=True)
class _Template:
    text: str
    fields: frozenset[str]


class Texts:
    """The customer-facing texts: the defaults with the operator's overrides laid over them."""

    def __init__(self, overrides: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self._templates: dict[str, dict[str, _Template]] = {
            language: {kind: _compile(language, kind, text) for kind, text in texts.items()}
            for language, texts in _DEFAULTS.items()
        }
        for language, texts in (overrides or {}).items():
            if language not in SUPPORTED:
                raise ValueError(
                    f"texts.{language}: unknown language {language!r}; "
                    f"supported: {', '.join(SUPPORTED)}"
                )
            for kind, text in texts.items():
                if kind not in ALLOWED:
                    raise ValueError(
                        f"texts.{language}.{kind}: unknown kind {kind!r}; known: {', '.join(KINDS)}"
                    )
                self._templates[language][kind] = _compile(language, kind, text)

    def render(self, kind: str, language: str, context: TextContext) -> str:
        """The text of ``kind`` in ``language`` ("pt-BR" is fine; unknown ones get English).

        Raises ``KeyError`` for an unknown kind and ``ValueError`` when the template uses a
        value the context lacks (an ``ack`` without an estimate): a caller's bug, and sending
        "you are number None in line" would be worse than failing.
        """
        if kind not in ALLOWED:
            raise KeyError(kind)
        language = normalize(language) or DEFAULT
        template = self._templates[language][kind]
        phrases = _PHRASES[language]
        values = {name: _value(name, kind, phrases, context) for name in template.fields}
        return template.text.format_map(values)


def _compile(language: str, kind: str, text: object) -> _Template:
    where = f"texts.{language}.{kind}"
    if not isinstance(text, str):
        raise TypeError(f"{where}: a text must be a string, got {type(text).__name__}")
    try:
        parsed = list(Formatter().parse(text))
    except ValueError as error:
        raise ValueError(f"{where}: {error} (a lone brace?)") from None
    fields: set[str] = set()
    for literal, name, spec, conversion in parsed:
        if "{" in literal or "}" in literal:
            raise ValueError(f"{where}: literal braces are not allowed")
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            raise ValueError(
                f"{where}: unknown placeholder {{{name}}}; allowed here: {_braced(ALLOWED[kind])}"
            )
        if name not in ALLOWED[kind]:
            raise ValueError(
                f"{where}: placeholder {{{name}}} is not available in {kind!r} texts; "
                f"allowed here: {_braced(ALLOWED[kind])}"
            )
        if spec or conversion:
            raise ValueError(f"{where}: {{{name}}} takes no format spec or conversion")
        fields.add(name)
    missing = REQUIRED[kind] - fields
    if missing:
        raise ValueError(f"{where}: missing required placeholder(s) {_braced(missing)}")
    return _Template(text, frozenset(fields))


def _braced(names: frozenset[str] | set[str]) -> str:
    return " ".join(f"{{{name}}}" for name in sorted(names))


def _value(name: str, kind: str, phrases: _Phrases, context: TextContext) -> str:
    value: object = getattr(context, name)
    if value is None:
        raise ValueError(f"the {kind!r} text needs {name}, but the context has none")
    if isinstance(value, int):
        return _number(value, phrases.locale)
    if isinstance(value, timedelta):
        return _duration(value, phrases)
    if isinstance(value, datetime):
        return _opening(value, context, phrases)
    return str(value)


_Unit = Literal["day", "hour", "minute"]
_UNITS: tuple[tuple[_Unit, timedelta, int], ...] = (
    # unit, its length, how many of them before the next unit takes over
    ("minute", timedelta(minutes=1), 60),
    ("hour", timedelta(hours=1), 24),
    ("day", timedelta(days=1), 0),
)


def _duration(eta: timedelta, phrases: _Phrases) -> str:
    """``eta`` rounded up: whole minutes below an hour, then "about" whole hours or days.

    Babel would round to the nearest unit (61 s -> "1 minute"), so the value is rounded up
    here and Babel only words it: ``threshold=inf`` pins the unit to ``granularity``.
    """
    if eta < timedelta(minutes=1):
        return phrases.less_than_a_minute
    for unit, length, limit in _UNITS:
        count = -(-eta // length)  # ceiling division, exact on timedeltas
        if count < limit or not limit:
            worded = _worded(count * length, unit, phrases.locale)
            return worded if unit == "minute" else phrases.about.format(duration=worded)
    raise AssertionError("unreachable: the last unit has no limit")


# Babel looks the locale's data up on every call, which under a burst of acknowledgements
# cost more than the rest of composing them; positions and durations repeat, so remember them.
@lru_cache(maxsize=4096)
def _number(value: int, locale: str) -> str:
    if 0 <= value < 1000:  # no grouping to localise: spelled alike in every language we have
        return str(value)
    return str(format_decimal(value, locale=locale))


@lru_cache(maxsize=1024)
def _worded(duration: timedelta, unit: _Unit, locale: str) -> str:
    return str(format_timedelta(duration, granularity=unit, threshold=math.inf, locale=locale))


def _opening(opens_at: datetime, context: TextContext, phrases: _Phrases) -> str:
    """When the team opens, in the customer's zone if known, else in the team's, named."""
    zone, is_team_zone = _zone(context)
    local = opens_at.astimezone(zone)
    today = context.now.astimezone(zone).date()
    days = (local.date() - today).days
    time = format_time(local.time(), "HH:mm", locale=phrases.locale)
    if days <= 0:
        when = phrases.today.format(time=time)
    elif days == 1:
        when = phrases.tomorrow.format(time=time)
    elif days < 7:
        weekday = (
            phrases.weekdays[local.weekday()]
            if phrases.weekdays
            else format_date(local.date(), "EEEE", locale=phrases.locale)
        )
        when = phrases.weekday.format(weekday=weekday, time=time)
    else:
        date = (
            format_skeleton("MMMMd", local.date(), locale=phrases.locale)
            if local.year == today.year
            else format_date(local.date(), "long", locale=phrases.locale)
        )
        when = phrases.date.format(date=date, time=time)
    if not is_team_zone:
        return when
    return f"{when} ({_zone_label(local, zone, phrases)})"


def _zone(context: TextContext) -> tuple[ZoneInfo, bool]:
    """The customer's zone, or the team's and ``True`` when the customer's is unknown."""
    if context.customer_timezone:
        try:
            return ZoneInfo(context.customer_timezone), False
        except (ZoneInfoNotFoundError, ValueError):
            pass  # a browser's odd zone name is no reason to fail the acknowledgement
    return ZoneInfo(context.team_timezone), True


def _zone_label(local: datetime, zone: ZoneInfo, phrases: _Phrases) -> str:
    """ "Berlin, UTC+1": a city the customer may recognise and an offset to convert with."""
    offset = local.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    hours, rest = divmod(abs(minutes), 60)
    utc = "UTC" if not minutes else f"UTC{'-' if minutes < 0 else '+'}{hours}"
    if rest:
        utc += f":{rest:02d}"
    if "/" not in zone.key or zone.key.startswith("Etc/"):  # "UTC", "Etc/GMT+5": no city
        return utc
    city = get_timezone_location(zone, locale=phrases.locale, return_city=True)
    # CLDR names some cities with their region ("Argentina/Buenos Aires").
    return f"{city.rpartition('/')[2]}, {utc}"


_FOLLOW = {
    "en": "You can follow your conversation and reply here: {url}",
    "ru": "Следить за обращением и ответить можно здесь: {url}",
    "pt": "Você pode acompanhar a conversa e responder aqui: {url}",
}


def follow_link(language: str, url: str) -> str:
    """The line that links a customer to their status page (channels without a live view)."""
    return _FOLLOW[normalize(language) or DEFAULT].format(url=url)
