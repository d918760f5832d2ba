from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.language import SUPPORTED
from routing.texts import ALLOWED, KINDS, PLACEHOLDERS, REQUIRED, TextContext, Texts

SUNDAY_LATE = datetime(2025, 3, 2, 23, 30, tzinfo=UTC)  # already Monday 08:30 in Tokyo
MONDAY_MIDNIGHT = datetime(2025, 3, 3, 0, 0, tzinfo=UTC)  # Monday 09:00 in Tokyo

BASE = TextContext(
    reference="#1042",
    position=7,
    eta=timedelta(minutes=4, seconds=10),
    opens_at=MONDAY_MIDNIGHT,
    customer_timezone="Asia/Tokyo",
    team_timezone="Europe/Berlin",
    now=SUNDAY_LATE,
    agent="Marta",
)
TEXTS = Texts()


def render(kind: str, language: str, **changes: object) -> str:
    return TEXTS.render(kind, language, replace(BASE, **changes))  # type: ignore[arg-type]


def test_kinds_and_placeholders() -> None:
    assert KINDS == ("ack", "ack_closed", "position", "assigned", "escalated", "delayed")
    assert set(ALLOWED) == set(REQUIRED) == set(KINDS)
    assert {"reference", "position", "eta"} <= REQUIRED["ack"]
    assert {"reference", "opens_at"} <= REQUIRED["ack_closed"]
    assert "agent" in REQUIRED["assigned"]
    for kind in KINDS:
        assert REQUIRED[kind] <= ALLOWED[kind] <= PLACEHOLDERS


@pytest.mark.parametrize("language", SUPPORTED)
@pytest.mark.parametrize("kind", KINDS)
def test_every_default_renders_its_required_values(kind: str, language: str) -> None:
    text = render(kind, language)
    assert "{" not in text
    assert "}" not in text
    assert "#1042" in text  # every default names the conversation
    expected = {
        "position": "7",
        "eta": {"en": "5 minutes", "ru": "5 минут", "pt": "5 minutos"}[language],
        "opens_at": {"en": "today at 09:00", "ru": "сегодня в 09:00", "pt": "hoje às 09:00"}[
            language
        ],
        "agent": "Marta",
    }
    for name in REQUIRED[kind] - {"reference"}:
        assert expected[name] in text


@pytest.mark.parametrize("language", SUPPORTED)
@pytest.mark.parametrize("kind", KINDS)
def test_every_allowed_placeholder_is_filled(kind: str, language: str) -> None:
    template = " | ".join(f"{name}={{{name}}}" for name in sorted(ALLOWED[kind]))
    text = Texts({language: {kind: template}}).render(kind, language, BASE)
    values = dict(part.split("=", 1) for part in text.split(" | "))
    assert set(values) == ALLOWED[kind]
    assert all(values.values())
    assert values.get("reference", "#1042") == "#1042"
    assert values.get("position", "7") == "7"
    assert values.get("agent", "Marta") == "Marta"
    if "eta" in values:
        assert values["eta"].startswith("5 ")
    if "opens_at" in values:
        assert values["opens_at"].endswith("09:00")


def test_default_english_templates() -> None:
    assert render("ack", "en") == (
        "Thanks for getting in touch! Your message has reached us, and your reference is "
        "#1042. You're number 7 in line, and the expected wait is 5 minutes."
    )
    assert render("assigned", "en") == (
        "Good news: Marta has picked up your conversation #1042 and will reply right here."
    )


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [(1, "1 минута"), (2, "2 минуты"), (5, "5 минут"), (21, "21 минута"), (22, "22 минуты")],
)
def test_russian_plural_forms(minutes: int, expected: str) -> None:
    text = render("delayed", "ru", eta=timedelta(minutes=minutes))
    assert f"Новое ожидаемое время ответа: {expected}." in text


@pytest.mark.parametrize(
    ("eta", "en", "ru", "pt"),
    [
        (timedelta(0), "less than a minute", "меньше минуты", "menos de um minuto"),
        (timedelta(seconds=59), "less than a minute", "меньше минуты", "menos de um minuto"),
        (timedelta(seconds=60), "1 minute", "1 минута", "1 minuto"),
        (timedelta(seconds=61), "2 minutes", "2 минуты", "2 minutos"),
        (timedelta(minutes=4, microseconds=1), "5 minutes", "5 минут", "5 minutos"),
        (timedelta(minutes=59, seconds=1), "about 1 hour", "примерно 1 час", "cerca de 1 hora"),
        (timedelta(hours=1), "about 1 hour", "примерно 1 час", "cerca de 1 hora"),
        (timedelta(minutes=61), "about 2 hours", "примерно 2 часа", "cerca de 2 horas"),
        (timedelta(minutes=90), "about 2 hours", "примерно 2 часа", "cerca de 2 horas"),
        (timedelta(hours=4, seconds=1), "about 5 hours", "примерно 5 часов", "cerca de 5 horas"),
        (timedelta(hours=25), "about 2 days", "примерно 2 дня", "cerca de 2 dias"),
        (timedelta(seconds=-5), "less than a minute", "меньше минуты", "menos de um minuto"),
    ],
)
def test_eta_is_rounded_up_and_worded(eta: timedelta, en: str, ru: str, pt: str) -> None:
    assert render("delayed", "en", eta=eta).count(f"the new expected wait is {en}.") == 1
    assert f"Новое ожидаемое время ответа: {ru}." in render("delayed", "ru", eta=eta)
    assert f"o novo tempo estimado é de {pt}." in render("delayed", "pt", eta=eta)


def test_61_seconds_is_never_one_minute() -> None:
    text = render("ack", "en", eta=timedelta(seconds=61))
    assert "2 minutes" in text
    assert "1 minute" not in text


@given(st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=60)))
@settings(deadline=None, database=None)
def test_eta_never_promises_less_than_the_estimate(eta: timedelta) -> None:
    text = render("delayed", "en", eta=eta)
    match = re.search(r"wait is (?:about )?(\d+) (minute|hour|day)s?\.", text)
    assert match is not None, text
    unit = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
    assert int(match[1]) * unit[match[2]] >= eta
    assert "." not in match[1]


@pytest.mark.parametrize(
    ("zone", "en", "ru", "pt"),
    [
        # Sunday 23:30 UTC: already Monday 08:30 in Tokyo, so Monday 09:00 there is "today".
        ("Asia/Tokyo", "today at 09:00", "сегодня в 09:00", "hoje às 09:00"),
        # Still Sunday 23:30 in London: midnight is "tomorrow".
        ("Europe/London", "tomorrow at 00:00", "завтра в 00:00", "amanhã às 00:00"),
        # Sunday 18:30 in New York: 19:00 is later today.
        ("America/New_York", "today at 19:00", "сегодня в 19:00", "hoje às 19:00"),
    ],
)
def test_today_and_tomorrow_are_in_the_customers_zone(zone: str, en: str, ru: str, pt: str) -> None:
    assert f"will be back {en};" in render("ack_closed", "en", customer_timezone=zone)
    assert f"мы вернёмся {ru} и" in render("ack_closed", "ru", customer_timezone=zone)
    assert f"voltamos {pt} e" in render("ack_closed", "pt", customer_timezone=zone)


RUSSIAN_WEEKDAYS = (
    "в понедельник",
    "во вторник",
    "в среду",
    "в четверг",
    "в пятницу",
    "в субботу",
    "в воскресенье",
)
ENGLISH_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
PORTUGUESE_WEEKDAYS = (
    "segunda-feira",
    "terça-feira",
    "quarta-feira",
    "quinta-feira",
    "sexta-feira",
    "sábado",
    "domingo",
)


@pytest.mark.parametrize("days_ahead", [2, 3, 6])
@pytest.mark.parametrize("weekday", range(7))
def test_weekday_within_the_week(weekday: int, days_ahead: int) -> None:
    opens_at = datetime(2025, 3, 3 + weekday, 6, 0, tzinfo=UTC)  # 09:00 in Moscow
    assert opens_at.weekday() == weekday
    context = {"opens_at": opens_at, "now": opens_at - timedelta(days=days_ahead)}
    context["customer_timezone"] = "Europe/Moscow"
    ru = render("ack_closed", "ru", **context)
    en = render("ack_closed", "en", **context)
    pt = render("ack_closed", "pt", **context)
    assert f"мы вернёмся {RUSSIAN_WEEKDAYS[weekday]} в 09:00 и" in ru
    assert f"will be back {ENGLISH_WEEKDAYS[weekday]} at 09:00;" in en
    assert f"voltamos {PORTUGUESE_WEEKDAYS[weekday]} às 09:00 e" in pt


def test_a_week_or_more_away_gives_the_date() -> None:
    changes = {"customer_timezone": "UTC", "opens_at": datetime(2025, 3, 12, 9, tzinfo=UTC)}
    assert "will be back on March 12 at 09:00;" in render("ack_closed", "en", **changes)
    assert "мы вернёмся 12 марта в 09:00 и" in render("ack_closed", "ru", **changes)
    assert "voltamos no dia 12 de março às 09:00 e" in render("ack_closed", "pt", **changes)
    next_year = {"customer_timezone": "UTC", "opens_at": datetime(2026, 1, 5, 9, tzinfo=UTC)}
    assert "on January 5, 2026 at 09:00" in render("ack_closed", "en", **next_year)
    assert "5 января 2026\u202fг. в 09:00" in render("ack_closed", "ru", **next_year)
    assert "no dia 5 de janeiro de 2026 às 09:00" in render("ack_closed", "pt", **next_year)


@pytest.mark.parametrize(
    ("team", "opens_at", "en", "ru", "pt"),
    [
        (
            "Europe/Berlin",
            datetime(2025, 3, 3, 8, tzinfo=UTC),  # Berlin passed midnight at 23:00 UTC
            "today at 09:00 (Berlin, UTC+1)",
            "сегодня в 09:00 (Берлин, UTC+1)",
            "hoje às 09:00 (Berlim, UTC+1)",
        ),
        (
            "America/Sao_Paulo",
            datetime(2025, 3, 3, 12, tzinfo=UTC),
            "tomorrow at 09:00 (Sao Paulo, UTC-3)",
            "завтра в 09:00 (Сан-Паулу, UTC-3)",
            "amanhã às 09:00 (São Paulo, UTC-3)",
        ),
        (
            "Asia/Kolkata",
            datetime(2025, 3, 3, 3, 30, tzinfo=UTC),
            "today at 09:00 (Kolkata, UTC+5:30)",
            "сегодня в 09:00 (Kolkata, UTC+5:30)",
            "hoje às 09:00 (Kolkata, UTC+5:30)",
        ),
        (
            "UTC",
            datetime(2025, 3, 3, 9, tzinfo=UTC),
            "tomorrow at 09:00 (UTC)",
            "завтра в 09:00 (UTC)",
            "amanhã às 09:00 (UTC)",
        ),
    ],
)
@pytest.mark.parametrize("customer_zone", [None, "", "Mars/Olympus_Mons", "../../etc/passwd"])
def test_the_team_zone_is_named_when_the_customers_is_unknown(
    team: str, opens_at: datetime, en: str, ru: str, pt: str, customer_zone: str | None
) -> None:
    changes = {"team_timezone": team, "opens_at": opens_at, "customer_timezone": customer_zone}
    assert f"will be back {en};" in render("ack_closed", "en", **changes)
    assert f"мы вернёмся {ru} и" in render("ack_closed", "ru", **changes)
    assert f"voltamos {pt} e" in render("ack_closed", "pt", **changes)


def test_the_offset_follows_daylight_saving_at_the_opening() -> None:
    text = render(
        "ack_closed",
        "en",
        customer_timezone=None,
        now=datetime(2025, 6, 1, 20, tzinfo=UTC),
        opens_at=datetime(2025, 6, 2, 7, tzinfo=UTC),
    )
    assert "tomorrow at 09:00 (Berlin, UTC+2)" in text


def test_no_zone_is_named_when_the_customers_is_known() -> None:
    assert "(" not in render("ack_closed", "en", customer_timezone="Europe/Berlin")


def test_overrides_replace_defaults_and_keep_the_rest() -> None:
    texts = Texts({"en": {"ack": "Got it: {reference}, #{position} in line, ~{eta}."}})
    assert texts.render("ack", "en", BASE) == "Got it: #1042, #7 in line, ~5 minutes."
    assert texts.render("ack", "ru", BASE) == TEXTS.render("ack", "ru", BASE)
    assert texts.render("assigned", "en", BASE) == TEXTS.render("assigned", "en", BASE)
    assert TEXTS.render("ack", "en", BASE) != texts.render("ack", "en", BASE)


def test_an_override_may_omit_optional_placeholders() -> None:
    texts = Texts({"pt": {"position": "Você é o número {position} da fila."}})
    assert texts.render("position", "pt-BR", BASE) == "Você é o número 7 da fila."


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"en": {"ack": "{reference} {position} {eta} {customer}"}}, r"texts\.en\.ack: unknown "
         r"placeholder \{customer\}"),
        ({"en": {"ack": "{reference} {position} {eta.days}"}}, r"texts\.en\.ack: unknown "
         r"placeholder \{eta\.days\}"),
        ({"en": {"ack": "{} {reference} {position} {eta}"}}, r"texts\.en\.ack: unknown "
         r"placeholder \{\}"),
        ({"ru": {"ack": "{reference} {position} {eta} {agent}"}}, r"texts\.ru\.ack: placeholder "
         r"\{agent\} is not available"),
        ({"ru": {"ack_closed": "Вернёмся позже, {reference}."}}, r"texts\.ru\.ack_closed: "
         r"missing required placeholder\(s\) \{opens_at\}"),
        ({"pt": {"ack": "{reference}"}}, r"texts\.pt\.ack: missing required placeholder\(s\) "
         r"\{eta\} \{position\}"),
        ({"en": {"assigned": ""}}, r"texts\.en\.assigned: missing required placeholder\(s\) "
         r"\{agent\}"),
        ({"en": {"greeting": "Hi {reference}"}}, r"texts\.en\.greeting: unknown kind 'greeting'"),
        ({"de": {"ack": "{reference} {position} {eta}"}}, r"texts\.de: unknown language 'de'"),
        ({"pt-BR": {"ack": "{reference} {position} {eta}"}}, r"texts\.pt-BR: unknown language"),
        ({"en": {"ack": "{reference {position} {eta}"}}, r"texts\.en\.ack: .*brace"),
        ({"en": {"ack": "{reference} {position:>3} {eta}"}}, r"texts\.en\.ack: \{position\} "
         r"takes no format spec"),
        ({"en": {"ack": "{reference!r} {position} {eta}"}}, r"texts\.en\.ack: \{reference\} "
         r"takes no format spec or conversion"),
        ({"en": {"ack": "{{x}} {reference} {position} {eta}"}}, r"texts\.en\.ack: literal "
         r"braces"),
    ],
)  # fmt: skip
def test_bad_overrides_are_refused_naming_the_problem(
    overrides: dict[str, dict[str, str]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Texts(overrides)


def test_a_non_string_override_is_refused() -> None:
    with pytest.raises(TypeError, match=r"texts\.en\.ack: a text must be a string"):
        Texts({"en": {"ack": 42}})  # type: ignore[dict-item]


def test_unknown_language_falls_back_to_english_and_tags_are_normalized() -> None:
    assert render("ack", "de") == render("ack", "en")
    assert render("ack", "") == render("ack", "en")
    assert render("ack", "pt-BR") == render("ack", "pt")
    assert render("ack", "ru_RU") == render("ack", "ru")


def test_unknown_kind_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="greeting"):
        TEXTS.render("greeting", "en", BASE)


@pytest.mark.parametrize(
    ("kind", "missing"),
    [("ack", "eta"), ("ack", "position"), ("ack_closed", "opens_at"), ("assigned", "agent")],
)
def test_a_missing_value_fails_instead_of_saying_none(kind: str, missing: str) -> None:
    with pytest.raises(ValueError, match=f"'{kind}' text needs {missing}"):
        render(kind, "en", **{missing: None})


def test_values_not_used_by_the_template_may_be_missing() -> None:
    text = render("assigned", "en", position=None, eta=None, opens_at=None)
    assert "Marta" in text


def test_large_positions_are_grouped_per_locale() -> None:
    assert "number 1,042 in line" in render("ack", "en", position=1042)
    assert "место в очереди: 1\xa0042." in render("ack", "ru", position=1042)


@pytest.mark.parametrize(
    "changes",
    [
        {"now": datetime(2025, 3, 2, 23, 30)},
        {"opens_at": datetime(2025, 3, 3, 9)},
        {"position": 0},
    ],
)
def test_context_is_checked(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="TextContext"):
        replace(BASE, **changes)  # type: ignore[arg-type]


ZONES = sorted(available_timezones())


@given(
    kind=st.sampled_from(KINDS),
    language=st.sampled_from((*SUPPORTED, "pt-BR", "de", "")),
    position=st.integers(min_value=1, max_value=10**7),
    eta=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=90)),
    now=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    until_open=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
    customer_timezone=st.none() | st.sampled_from(ZONES) | st.text(max_size=12),
    team_timezone=st.sampled_from(ZONES),
    agent=st.text(alphabet=st.characters(categories=["L"]), min_size=1, max_size=20),
    reference=st.integers(min_value=1, max_value=10**9).map(lambda n: f"#{n}"),
)
@settings(deadline=None, database=None, max_examples=300)
def test_no_output_has_braces(
    kind: str,
    language: str,
    position: int,
    eta: timedelta,
    now: datetime,
    until_open: timedelta,
    customer_timezone: str | None,
    team_timezone: str,
    agent: str,
    reference: str,
) -> None:
    context = TextContext(
        reference=reference,
        position=position,
        eta=eta,
        opens_at=now + until_open,
        customer_timezone=customer_timezone,
        team_timezone=team_timezone,
        now=now,
        agent=agent,
    )
    text = TEXTS.render(kind, language, context)
    assert "{" not in text
    assert "}" not in text
    assert reference in text
