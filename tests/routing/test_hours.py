"""Business hours: boundaries, overnight intervals, holidays, DST and odd offsets, checked on
real UTC instants; property tests compare against a wall-clock reading of the schedule."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from routing.hours import DAYS, BusinessHours, HoursSettings

LISBON = ZoneInfo("Europe/Lisbon")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
CHATHAM = ZoneInfo("Pacific/Chatham")
HOUR = 3600.0
WEEKDAYS = dict.fromkeys(DAYS[:5], "09:00-18:00")


def hours(
    timezone: str = "Europe/Lisbon", holidays: tuple[date, ...] = (), **days: str
) -> BusinessHours:
    """A team closed on every day not given."""
    week = dict.fromkeys(DAYS, "") | days
    return BusinessHours.from_settings(
        HoursSettings(timezone=timezone, always_open=False, holidays=holidays, **week)
    )


def at(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone)  # type: ignore[arg-type, misc]


def utc(*parts: int) -> datetime:
    return at(UTC, *parts)


# -- 24/7 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "team", [BusinessHours.always(), BusinessHours.from_settings(HoursSettings())]
)
def test_always_open_is_plain_wall_time(team: BusinessHours) -> None:
    start = at(KOLKATA, 2026, 3, 29, 3, 17)  # a Sunday night, a DST day in Europe
    assert team.is_open(start)
    assert team.next_open(start) == start
    assert team.next_open(start).tzinfo is UTC
    assert team.next_close(start) is None
    assert team.open_seconds_between(start, start + timedelta(days=3)) == 3 * 86400
    assert team.open_seconds_between(start, start - timedelta(hours=1)) == 0
    assert team.add_open_time(start, 5000.5) == start + timedelta(seconds=5000.5)


def test_always_open_ignores_the_week_and_holidays() -> None:
    team = BusinessHours.from_settings(
        HoursSettings(always_open=True, mon="", holidays=(date(2026, 1, 5),))
    )
    assert team.is_open(utc(2026, 1, 5, 3))


# -- an ordinary week in Lisbon (summer: UTC+1, so UTC and local differ) -------------------


def test_open_at_nine_closed_at_six() -> None:
    team = hours(**WEEKDAYS)
    assert not team.is_open(at(LISBON, 2026, 6, 1, 8, 59, 59))
    assert team.is_open(at(LISBON, 2026, 6, 1, 9))
    assert team.is_open(at(LISBON, 2026, 6, 1, 17, 59, 59))
    assert not team.is_open(at(LISBON, 2026, 6, 1, 18))
    assert team.is_open(utc(2026, 6, 1, 8))  # 09:00 WEST
    assert not team.is_open(utc(2026, 6, 1, 17))  # 18:00 WEST


def test_friday_evening_opens_on_monday_morning() -> None:
    team = hours(**WEEKDAYS)
    opens = team.next_open(at(LISBON, 2026, 6, 5, 18))
    assert opens == at(LISBON, 2026, 6, 8, 9)
    assert opens == utc(2026, 6, 8, 8)
    assert opens.tzinfo is UTC
    assert team.next_open(at(LISBON, 2026, 6, 6, 12)) == opens  # Saturday
    assert not team.is_open(at(LISBON, 2026, 6, 7, 12))  # Sunday


def test_next_close_and_open_time_in_a_week() -> None:
    team = hours(**WEEKDAYS)
    assert team.next_close(at(LISBON, 2026, 6, 1, 10)) == at(LISBON, 2026, 6, 1, 18)
    # Closed: the end of the next open stretch.
    assert team.next_close(at(LISBON, 2026, 6, 5, 19)) == at(LISBON, 2026, 6, 8, 18)
    week = team.open_seconds_between(at(LISBON, 2026, 6, 1), at(LISBON, 2026, 6, 8))
    assert week == 45 * HOUR


def test_add_open_time_skips_the_weekend() -> None:
    team = hours(**WEEKDAYS)
    assert team.add_open_time(at(LISBON, 2026, 6, 5, 17), 2 * HOUR) == at(LISBON, 2026, 6, 8, 10)
    assert team.add_open_time(at(LISBON, 2026, 6, 6, 12), HOUR) == at(LISBON, 2026, 6, 8, 10)
    # A full day ends at the close, not at the next opening.
    assert team.add_open_time(at(LISBON, 2026, 6, 1, 9), 9 * HOUR) == at(LISBON, 2026, 6, 1, 18)
    # Zero seconds while closed is the opening.
    assert team.add_open_time(at(LISBON, 2026, 6, 6, 12), 0) == at(LISBON, 2026, 6, 8, 9)


def test_a_holiday_monday_opens_on_tuesday() -> None:
    team = hours(holidays=(date(2026, 6, 8),), **WEEKDAYS)
    assert team.next_open(at(LISBON, 2026, 6, 5, 18)) == at(LISBON, 2026, 6, 9, 9)
    assert not team.is_open(at(LISBON, 2026, 6, 8, 12))
    week = team.open_seconds_between(at(LISBON, 2026, 6, 8), at(LISBON, 2026, 6, 15))
    assert week == 36 * HOUR


def test_split_day_closes_for_lunch() -> None:
    team = hours(mon="09:00-12:00,13:00-17:00")
    assert team.is_open(at(LISBON, 2026, 6, 1, 11, 59))
    assert not team.is_open(at(LISBON, 2026, 6, 1, 12))
    assert team.next_open(at(LISBON, 2026, 6, 1, 12, 30)) == at(LISBON, 2026, 6, 1, 13)
    assert team.next_close(at(LISBON, 2026, 6, 1, 10)) == at(LISBON, 2026, 6, 1, 12)
    assert team.open_seconds_between(at(LISBON, 2026, 6, 1), at(LISBON, 2026, 6, 2)) == 7 * HOUR
    assert team.add_open_time(at(LISBON, 2026, 6, 1, 11), 2 * HOUR) == at(LISBON, 2026, 6, 1, 14)


# -- overnight and midnight --------------------------------------------------------------------


def test_overnight_interval_belongs_to_the_day_it_starts() -> None:
    team = hours(fri="22:00-02:00", holidays=(date(2026, 6, 6),))  # Saturday is a holiday
    assert team.is_open(at(LISBON, 2026, 6, 6, 1, 59))
    assert not team.is_open(at(LISBON, 2026, 6, 6, 2))
    assert not team.is_open(at(LISBON, 2026, 6, 5, 1))  # Thursday had no interval
    assert team.next_close(at(LISBON, 2026, 6, 5, 23)) == at(LISBON, 2026, 6, 6, 2)
    # A holiday Friday drops the whole interval, tail included.
    off = hours(fri="22:00-02:00", holidays=(date(2026, 6, 5),))
    assert not off.is_open(at(LISBON, 2026, 6, 6, 1))
    assert off.next_open(at(LISBON, 2026, 6, 5, 12)) == at(LISBON, 2026, 6, 12, 22)


def test_sunday_night_runs_into_monday() -> None:
    team = hours(sun="22:00-02:00", holidays=(date(2026, 6, 8),))  # the Monday is a holiday
    assert team.is_open(at(LISBON, 2026, 6, 8, 1))
    assert not team.is_open(at(LISBON, 2026, 6, 8, 2))
    assert team.next_close(at(LISBON, 2026, 6, 7, 23)) == at(LISBON, 2026, 6, 8, 2)
    assert team.open_seconds_between(at(LISBON, 2026, 6, 7), at(LISBON, 2026, 6, 9)) == 4 * HOUR
    assert team.next_open(at(LISBON, 2026, 6, 8, 3)) == at(LISBON, 2026, 6, 14, 22)


def test_monday_night_is_the_first_day_of_the_week() -> None:
    team = hours(mon="22:00-02:00")
    assert not team.is_open(at(LISBON, 2026, 6, 8, 1))  # nothing from Sunday
    assert team.next_open(at(LISBON, 2026, 6, 8, 0, 30)) == at(LISBON, 2026, 6, 8, 22)
    assert team.is_open(at(LISBON, 2026, 6, 9, 1))
    assert team.add_open_time(at(LISBON, 2026, 6, 7), 3 * HOUR) == at(LISBON, 2026, 6, 9, 1)


def test_end_of_day_and_midnight() -> None:
    whole = hours(mon="00:00-24:00")
    assert whole.is_open(at(LISBON, 2026, 6, 1, 0))
    assert not whole.is_open(at(LISBON, 2026, 6, 2, 0))
    assert whole.next_close(at(LISBON, 2026, 6, 1, 12)) == at(LISBON, 2026, 6, 2, 0)
    assert whole.next_open(at(LISBON, 2026, 5, 31, 23, 59)) == at(LISBON, 2026, 6, 1, 0)
    # "22:00-00:00" is the same as "22:00-24:00".
    late = hours(mon="22:00-00:00")
    assert late.next_close(at(LISBON, 2026, 6, 1, 23)) == at(LISBON, 2026, 6, 2, 0)


def test_a_day_ending_at_24_and_one_starting_at_00_are_continuous() -> None:
    team = hours(mon="18:00-24:00", tue="00:00-06:00")
    assert team.is_open(at(LISBON, 2026, 6, 2, 0))
    assert team.next_close(at(LISBON, 2026, 6, 1, 19)) == at(LISBON, 2026, 6, 2, 6)
    total = team.open_seconds_between(at(LISBON, 2026, 6, 1), at(LISBON, 2026, 6, 3))
    assert total == 12 * HOUR


def test_a_year_of_weekdays() -> None:
    team = hours(**WEEKDAYS)  # 2026 has 261 weekdays and two DST changes
    assert (
        team.open_seconds_between(at(LISBON, 2026, 1, 1), at(LISBON, 2027, 1, 1)) == 261 * 9 * HOUR
    )
    last_minute = team.add_open_time(at(LISBON, 2026, 1, 1), 261 * 9 * HOUR)
    assert last_minute == at(LISBON, 2026, 12, 31, 18)


def test_round_the_clock_week_never_closes_until_a_holiday() -> None:
    team = hours(**dict.fromkeys(DAYS, "00:00-24:00"))
    assert team.is_open(utc(2026, 6, 1, 12))
    assert team.next_close(utc(2026, 6, 1, 12)) is None
    with_holiday = hours(holidays=(date(2026, 12, 25),), **dict.fromkeys(DAYS, "00:00-24:00"))
    assert with_holiday.next_close(utc(2026, 6, 1, 12)) == at(LISBON, 2026, 12, 25)
    assert with_holiday.next_open(at(LISBON, 2026, 12, 25, 12)) == at(LISBON, 2026, 12, 26)
    assert with_holiday.next_close(at(LISBON, 2026, 12, 26)) is None


# -- DST -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "length"),
    [
        (LISBON, date(2026, 3, 29), 23),
        (LISBON, date(2026, 10, 25), 25),
        (NEW_YORK, date(2026, 3, 8), 23),
        (NEW_YORK, date(2026, 11, 1), 25),
        (CHATHAM, date(2026, 9, 27), 23),
        (CHATHAM, date(2026, 4, 5), 25),
    ],
)
def test_a_whole_day_on_a_change_day_lasts_23_or_25_hours(
    zone: ZoneInfo, day: date, length: int
) -> None:
    team = hours(zone.key, sun="00:00-24:00")
    midnight = datetime.combine(day, time(), tzinfo=zone)
    around = team.open_seconds_between(midnight - timedelta(days=1), midnight + timedelta(days=2))
    assert around == length * HOUR
    assert team.next_close(midnight + timedelta(hours=1)) == datetime.combine(
        day + timedelta(days=1), time(), tzinfo=zone
    )


@pytest.mark.parametrize(
    ("zone", "saturday", "opens"),
    [
        (NEW_YORK, utc(2026, 3, 7), utc(2026, 3, 8, 6)),  # 01:00 EST
        (LISBON, utc(2026, 3, 28), utc(2026, 3, 29, 1)),  # 01:00 is skipped: 02:00 WEST
    ],
)
def test_one_to_three_on_spring_forward_is_one_hour(
    zone: ZoneInfo, saturday: datetime, opens: datetime
) -> None:
    team = hours(zone.key, sun="01:00-03:00")
    assert team.next_open(saturday) == opens
    assert team.next_close(opens) == opens + timedelta(hours=1)
    # Five Sundays in March 2026, one of them an hour short.
    assert team.open_seconds_between(utc(2026, 3, 1), utc(2026, 4, 1)) == 9 * HOUR


def test_a_boundary_in_the_skipped_hour_moves_to_the_change() -> None:
    team = hours("America/New_York", sun="02:30-04:00")
    assert team.next_open(utc(2026, 3, 7)) == utc(2026, 3, 8, 7)  # 03:00 EDT
    assert not team.is_open(utc(2026, 3, 8, 6, 59, 59))
    assert team.open_seconds_between(utc(2026, 3, 8), utc(2026, 3, 9)) == HOUR
    inside = hours("America/New_York", sun="02:00-02:30")  # wholly skipped: closed that day
    assert inside.next_open(utc(2026, 3, 7)) == at(NEW_YORK, 2026, 3, 15, 2)


def test_the_repeated_hour_is_covered_twice_on_fall_back() -> None:
    team = hours("America/New_York", sun="01:00-02:00")
    assert team.next_open(utc(2026, 10, 31)) == utc(2026, 11, 1, 5)  # 01:00 EDT
    assert team.next_close(utc(2026, 10, 31)) == utc(2026, 11, 1, 7)  # 02:00 EST
    short = hours("America/New_York", sun="01:30-01:45")
    assert short.open_seconds_between(utc(2026, 11, 1), utc(2026, 11, 2)) == 1.25 * HOUR


@pytest.mark.parametrize(
    ("zone", "friday", "monday"),
    [
        (LISBON, date(2026, 3, 27), utc(2026, 3, 30, 8)),
        (LISBON, date(2026, 10, 23), utc(2026, 10, 26, 9)),
        (NEW_YORK, date(2026, 3, 6), utc(2026, 3, 9, 13)),
        (NEW_YORK, date(2026, 10, 30), utc(2026, 11, 2, 14)),
    ],
)
def test_weekend_with_a_change_opens_at_the_right_instant(
    zone: ZoneInfo, friday: date, monday: datetime
) -> None:
    team = hours(zone.key, **WEEKDAYS)
    evening = datetime.combine(friday, time(18), tzinfo=zone)
    assert team.next_open(evening) == monday
    assert team.add_open_time(evening - timedelta(hours=1), 2 * HOUR) == monday + timedelta(hours=1)
    week = team.open_seconds_between(evening - timedelta(days=4), evening + timedelta(days=3))
    assert week == 45 * HOUR


# -- zones and offsets -----------------------------------------------------------------------


def test_the_callers_zone_does_not_matter() -> None:
    team = hours(**WEEKDAYS)
    moment = utc(2026, 6, 5, 16, 30)
    for zone in (UTC, ZoneInfo("Asia/Tokyo"), ZoneInfo("America/Los_Angeles"), CHATHAM):
        local = moment.astimezone(zone)
        assert team.is_open(local)
        assert team.next_close(local) == utc(2026, 6, 5, 17)
        assert team.add_open_time(local, HOUR) == utc(2026, 6, 8, 8, 30)
        assert team.open_seconds_between(local, utc(2026, 6, 8, 9)) == 1.5 * HOUR


def test_half_hour_offset_in_kolkata() -> None:
    team = hours("Asia/Kolkata", **WEEKDAYS)
    assert team.next_open(at(KOLKATA, 2026, 6, 5, 18)) == utc(2026, 6, 8, 3, 30)
    assert not team.is_open(utc(2026, 6, 8, 3, 29, 59))
    assert team.is_open(utc(2026, 6, 8, 3, 30))
    assert team.next_close(utc(2026, 6, 8, 4)) == utc(2026, 6, 8, 12, 30)


def test_quarter_hour_offsets_in_chatham() -> None:
    team = hours("Pacific/Chatham", **WEEKDAYS)
    # July is standard time, +12:45: Monday 09:00 is Sunday 20:15 UTC.
    assert team.next_open(utc(2026, 7, 4)) == utc(2026, 7, 5, 20, 15)
    assert not team.is_open(utc(2026, 7, 5, 20, 14, 59))
    # January is daylight time, +13:45.
    assert team.next_open(utc(2026, 1, 3)) == utc(2026, 1, 4, 19, 15)
    # 02:45-03:45 is skipped on 27 September: "02:00-03:00" ends at the change.
    night = hours("Pacific/Chatham", sun="02:00-03:00")
    assert night.next_open(utc(2026, 9, 25)) == utc(2026, 9, 26, 13, 15)
    assert night.next_close(utc(2026, 9, 26, 13, 15)) == utc(2026, 9, 26, 14)


# -- settings and errors ---------------------------------------------------------------------


def test_settings_from_toml() -> None:
    document = tomllib.loads(
        """
        [routing.teams.billing]
        timezone = "Europe/Lisbon"
        always_open = false
        fri = "09:00-12:30, 13:30-18:00,22:00-02:00"
        sat = "13:00-17:00,09:00-12:00"
        holidays = [2026-12-25]
        """
    )
    schedule = HoursSettings.model_validate(document["routing"]["teams"]["billing"])
    assert schedule.holidays == (date(2026, 12, 25),)
    team = BusinessHours.from_settings(schedule)
    assert not team.is_open(at(LISBON, 2026, 12, 25, 10))
    assert not team.is_open(at(LISBON, 2026, 12, 26, 1))  # a holiday Friday has no night
    assert team.is_open(at(LISBON, 2026, 6, 6, 1))  # an ordinary Friday night
    assert team.is_open(at(LISBON, 2026, 6, 5, 12, 15))
    assert not team.is_open(at(LISBON, 2026, 6, 5, 13))
    assert not team.is_open(at(LISBON, 2026, 6, 6, 12, 30))


@pytest.mark.parametrize(
    ("day", "text", "bad", "reason"),
    [
        ("mon", "09:00-09:00", "09:00-09:00", "empty"),
        ("tue", "9:00-18:00", "9:00-18:00", "not HH:MM-HH:MM"),
        ("wed", "08:00-10:00,09:00-25:00", "09:00-25:00", "invalid time 25:00"),
        ("thu", "09:60-10:00", "09:60-10:00", "invalid time 09:60"),
        ("fri", "24:00-02:00", "24:00-02:00", "starts at 24:00"),
        ("sat", "10:00-24:30", "10:00-24:30", "invalid time 24:30"),
        ("sun", "09:00-12:00,", "", "not HH:MM-HH:MM"),
        ("mon", "09:00-12:00 13:00-17:00", "09:00-12:00 13:00-17:00", "not HH:MM-HH:MM"),
    ],
)
def test_bad_intervals_name_the_day_and_the_interval(
    day: str, text: str, bad: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        HoursSettings(**{day: text})
    message = str(caught.value)
    assert f"{day}: interval {bad!r}" in message
    assert reason in message


@pytest.mark.parametrize(
    ("text", "first", "second"),
    [
        ("09:00-12:00,11:00-13:00", "09:00-12:00", "11:00-13:00"),
        ("13:00-17:00,08:00-18:00", "08:00-18:00", "13:00-17:00"),
        ("00:00-24:00,22:00-02:00", "00:00-24:00", "22:00-02:00"),
    ],
)
def test_overlapping_intervals_are_refused(text: str, first: str, second: str) -> None:
    with pytest.raises(ValidationError, match=f"wed: intervals '{first}' and '{second}' overlap"):
        HoursSettings(wed=text)


def test_touching_and_unordered_intervals_are_fine() -> None:
    team = hours(mon="12:00-13:00,09:00-12:00")
    assert team.next_close(at(LISBON, 2026, 6, 1, 10)) == at(LISBON, 2026, 6, 1, 13)


@pytest.mark.parametrize("name", ["Europe/Atlantis", "utc", "", "../etc/passwd", "localtime"])
def test_unknown_timezone_is_a_clear_error(name: str) -> None:
    with pytest.raises(ValidationError, match="timezone") as caught:
        HoursSettings(timezone=name)
    assert repr(name) in str(caught.value)


def test_a_team_that_never_opens_is_refused() -> None:
    closed = dict.fromkeys(DAYS, "")
    with pytest.raises(ValidationError, match="the team is never open"):
        HoursSettings(always_open=False, **closed)
    with pytest.raises(ValueError, match="the team is never open"):
        BusinessHours(zone=LISBON, week=((),) * 7)


def test_settings_are_strict_and_frozen() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        HoursSettings(monday="09:00-18:00")  # type: ignore[call-arg]
    schedule = HoursSettings()
    with pytest.raises(ValidationError, match="frozen"):
        schedule.mon = ""


def test_naive_times_and_negative_durations_are_refused() -> None:
    team = hours(**WEEKDAYS)
    naive = datetime(2026, 6, 1, 12)
    for call in (
        lambda: team.is_open(naive),
        lambda: team.next_open(naive),
        lambda: team.next_close(naive),
        lambda: team.open_seconds_between(naive, utc(2026, 6, 2)),
        lambda: team.add_open_time(naive, 1),
        lambda: BusinessHours.always().next_close(naive),
    ):
        with pytest.raises(ValueError, match="timezone-aware"):
            call()
    for seconds in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="open time"):
            team.add_open_time(utc(2026, 6, 1), seconds)


# -- properties --------------------------------------------------------------------------------

ZONES = [
    "UTC",
    "Europe/Lisbon",
    "America/New_York",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "Australia/Lord_Howe",  # half-hour DST
    "America/Santiago",  # changes at midnight
]
MOMENTS = st.datetimes(
    min_value=datetime(2025, 6, 1), max_value=datetime(2027, 6, 1), timezones=st.just(UTC)
)
PROPERTIES = settings(max_examples=150, deadline=None, database=None)
SPANS = st.timedeltas(timedelta(0), timedelta(days=40))


def clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@st.composite
def day_texts(draw: st.DrawFn) -> str:
    """A valid day: a few disjoint intervals, sometimes one running past midnight."""
    points = sorted(draw(st.sets(st.integers(0, 1440), max_size=6)))
    spans = list(zip(points[0::2], points[1::2], strict=False))
    last_end = spans[-1][1] if spans else 0
    if last_end < 1440 and draw(st.booleans()):
        start = draw(st.integers(max(last_end, 1), 1439))
        spans.append((start, draw(st.integers(0, start - 1))))
    return ",".join(f"{clock(start)}-{clock(end)}" for start, end in spans)


@st.composite
def schedules(draw: st.DrawFn) -> HoursSettings:
    days = {day: draw(day_texts()) for day in DAYS}
    if not any(days.values()):
        days["wed"] = "09:00-17:00"
    holidays = draw(st.lists(st.dates(date(2025, 5, 1), date(2027, 7, 1)), max_size=5))
    return HoursSettings(
        timezone=draw(st.sampled_from(ZONES)),
        always_open=draw(st.integers(0, 9)) == 0,
        holidays=tuple(holidays),
        **days,
    )


def wall_clock_open(schedule: HoursSettings, moment: datetime) -> bool | None:
    """The schedule read literally off the local wall clock; None in a repeated hour, where
    the wall clock alone cannot say."""
    if schedule.always_open:
        return True
    zone = ZoneInfo(schedule.timezone)
    wall = moment.astimezone(zone).replace(tzinfo=None)
    if (
        wall.replace(tzinfo=zone, fold=0).utcoffset()
        != wall.replace(tzinfo=zone, fold=1).utcoffset()
    ):
        return None
    for day in (wall.date(), wall.date() - timedelta(days=1)):
        if day in schedule.holidays:
            continue
        elapsed = wall - datetime.combine(day, time())
        for item in filter(None, getattr(schedule, DAYS[day.weekday()]).split(",")):
            start, end = (
                timedelta(hours=int(text[:2]), minutes=int(text[3:])) for text in item.split("-")
            )
            if end <= start:
                end += timedelta(days=1)
            if start <= elapsed < end:
                return True
    return False


@PROPERTIES
@given(schedules(), MOMENTS)
def test_is_open_agrees_with_the_wall_clock(schedule: HoursSettings, moment: datetime) -> None:
    expected = wall_clock_open(schedule, moment)
    if expected is not None:
        assert BusinessHours.from_settings(schedule).is_open(moment) is expected


@PROPERTIES
@given(schedules(), MOMENTS)
def test_next_open_and_next_close(schedule: HoursSettings, moment: datetime) -> None:
    team = BusinessHours.from_settings(schedule)
    opens = team.next_open(moment)
    assert opens >= moment
    assert team.is_open(opens)
    if team.is_open(moment):
        assert opens == moment
    else:
        assert not team.is_open(opens - timedelta(microseconds=1))
        assert team.open_seconds_between(moment, opens) == 0
    closes = team.next_close(moment)
    if closes is not None:
        assert closes > opens
        assert not team.is_open(closes)
        assert team.is_open(closes - timedelta(microseconds=1))
        assert team.open_seconds_between(opens, closes) == (closes - opens).total_seconds()


@PROPERTIES
@given(schedules(), MOMENTS, st.floats(0, 30 * 86400))
def test_add_open_time_inverts_open_seconds(
    schedule: HoursSettings, start: datetime, seconds: float
) -> None:
    team = BusinessHours.from_settings(schedule)
    end = team.add_open_time(start, seconds)
    assert end >= start
    assert abs(team.open_seconds_between(start, end) - seconds) <= 1e-6
    if seconds > 0:  # and it is the first such moment
        assert team.open_seconds_between(start, end - timedelta(microseconds=1)) < seconds


@PROPERTIES
@given(schedules(), MOMENTS, st.lists(SPANS, min_size=2, max_size=2).map(sorted))
def test_open_seconds_add_up_over_a_split(
    schedule: HoursSettings, first: datetime, spans: list[timedelta]
) -> None:
    team = BusinessHours.from_settings(schedule)
    middle, last = first + spans[0], first + spans[1]
    whole = team.open_seconds_between(first, last)
    parts = team.open_seconds_between(first, middle) + team.open_seconds_between(middle, last)
    assert abs(whole - parts) <= 1e-6
    assert 0 <= whole <= (last - first).total_seconds()
    assert team.open_seconds_between(last, first) == 0


@settings(max_examples=40, deadline=None, database=None)
@given(schedules(), MOMENTS, st.integers(1, 2 * 24 * 60))
def test_open_seconds_count_open_minutes(
    schedule: HoursSettings, moment: datetime, minutes: int
) -> None:
    """Every boundary in these zones falls on a whole UTC minute, so sampling each minute
    measures the open time exactly."""
    team = BusinessHours.from_settings(schedule)
    start = moment.replace(second=0, microsecond=0)
    open_minutes = sum(team.is_open(start + timedelta(minutes=step)) for step in range(minutes))
    end = start + timedelta(minutes=minutes)
    assert team.open_seconds_between(start, end) == open_minutes * 60
