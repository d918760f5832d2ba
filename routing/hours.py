"""Business hours per team: when a team is open, when it opens next, and how much open time
lies between two instants.

The router tells a customer who writes outside business hours when the team opens, and it
counts expected response times in open time only ("two working hours" written on Friday evening
means Monday morning). Both must be exact across midnight, holidays and DST changes, so the
schedule is kept as local wall-clock intervals and turned into real UTC instants one local day
at a time; every duration is measured on real time.

Wall-clock rules (see PEP 495 and https://docs.python.org/3/library/zoneinfo.html):

- A day is a list of ``HH:MM-HH:MM`` intervals in the team's zone. ``24:00`` ends the day. An
  interval whose end is earlier than its start runs into the next day and belongs to the day it
  starts on: ``fri = "22:00-02:00"`` is open until Saturday 02:00 even when Saturday is a
  holiday, and a holiday Friday drops it entirely.
- Spring forward: a boundary inside the skipped hour is moved to the first instant that exists,
  the moment of the change (02:30 on New York's change day means 03:00 EDT). An interval that
  lies wholly inside the gap is empty that day.
- Fall back: a start inside the repeated hour is read as its first occurrence and an end as its
  second, so an interval covers both passes of the wall times it names ("01:00-02:00" on New
  York's change day is two real hours of open time).
- So a 09:00-18:00 day is nine hours unless a change falls inside it, and 00:00-24:00 lasts
  23 or 25 hours on change days.
- Open periods that touch or overlap (Monday's 18:00-24:00 and Tuesday's 00:00-06:00, or an
  overnight tail reaching into the next day's hours) are one continuous open period.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

#: Minutes from local midnight: (start, end), with start < end <= 2 * 1440; an end past 1440
#: is the overnight tail into the next day.
Span = tuple[int, int]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
_MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
_INTERVAL = re.compile(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})")
_NEVER_OPEN = "the team is never open: always_open is false and no day has any hours"


def load_zone(name: str) -> ZoneInfo:
    """The IANA zone called ``name``, or a ValueError that says what was wrong with it.

    ``localtime`` is refused: it is whatever the host is set to, so the same config would mean
    different hours in a container and on a laptop.
    """
    if name == "localtime":
        raise ValueError("timezone 'localtime' depends on the host; use an IANA name")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:
        raise ValueError(
            f"unknown timezone {name!r}: use an IANA name such as 'Europe/Lisbon'"
        ) from error


def parse_day(day: str, text: str) -> tuple[Span, ...]:
    """Parse one day's ``"09:00-12:30,13:30-18:00"`` into sorted spans; "" is a closed day.

    Errors name the day and the interval, since that is what an operator has to fix in the
    TOML file.
    """
    if not text.strip():
        return ()
    spans: list[tuple[Span, str]] = []
    for raw in text.split(","):
        item = raw.strip()
        match = _INTERVAL.fullmatch(item)
        if match is None:
            raise ValueError(
                f"{day}: interval {item!r} is not HH:MM-HH:MM (for example '09:00-18:00')"
            )
        start_h, start_m, end_h, end_m = (int(group) for group in match.groups())
        start = _minute_of_day(day, item, start_h, start_m, is_end=False)
        end = _minute_of_day(day, item, end_h, end_m, is_end=True)
        if start == end:
            raise ValueError(f"{day}: interval {item!r} is empty; '00:00-24:00' is the whole day")
        if end < start:
            end += MINUTES_PER_DAY  # runs past midnight into the next day
        spans.append(((start, end), item))
    spans.sort()
    for (first, first_text), (second, second_text) in pairwise(spans):
        if second[0] < first[1]:
            raise ValueError(f"{day}: intervals {first_text!r} and {second_text!r} overlap")
    return tuple(span for span, _ in spans)


def _minute_of_day(day: str, item: str, hour: int, minute: int, *, is_end: bool) -> int:
    if minute > 59 or hour > 24 or (hour == 24 and minute != 0):
        raise ValueError(f"{day}: interval {item!r} has an invalid time {hour:02d}:{minute:02d}")
    if hour == 24 and not is_end:
        raise ValueError(f"{day}: interval {item!r} starts at 24:00, which can only end one")
    return hour * 60 + minute


class HoursSettings(BaseModel):
    """One team's hours as written under ``[routing.teams.<team>]`` in the TOML config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = "UTC"
    #: 24/7: the week and the holidays are ignored. A team that is open round the clock except
    #: on holidays writes "00:00-24:00" for every day and sets this to false.
    always_open: bool = True
    mon: str = "09:00-18:00"
    tue: str = "09:00-18:00"
    wed: str = "09:00-18:00"
    thu: str = "09:00-18:00"
    fri: str = "09:00-18:00"
    sat: str = ""
    sun: str = ""
    #: Local dates the team is closed all day (an overnight interval from the day before still
    #: runs into them).
    holidays: tuple[date, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        load_zone(value)
        return value

    @field_validator(*DAYS)
    @classmethod
    def _valid_day(cls, value: str, info: ValidationInfo) -> str:
        parse_day(info.field_name or "day", value)
        return value

    @model_validator(mode="after")
    def _opens_sometime(self) -> HoursSettings:
        if not self.always_open and not any(self.day_text(day).strip() for day in DAYS):
            raise ValueError(_NEVER_OPEN)
        return self

    def day_text(self, day: str) -> str:
        """The raw intervals of ``day`` ("mon" .. "sun")."""
        texts = {
            "mon": self.mon,
            "tue": self.tue,
            "wed": self.wed,
            "thu": self.thu,
            "fri": self.fri,
            "sat": self.sat,
            "sun": self.sun,
        }
        return texts[day]


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """A team's open periods as real instants; every method accepts aware datetimes in any zone
    and answers in UTC.

    Queries walk local days forward from two days before ``at``, converting each day's
    intervals and merging touching periods, so a call costs a few days of work, never a
    minute-by-minute scan.
    """

    zone: ZoneInfo
    #: Seven entries, Monday first, each the day's spans from :func:`parse_day`.
    week: tuple[tuple[Span, ...], ...]
    holidays: frozenset[date] = frozenset()
    always_open: bool = False
    #: From this instant on the team never closes again (the week is covered round the clock
    #: and no holiday lies ahead), or None when the week has a closed moment.
    _endless_from: datetime | None = field(init=False, repr=False, compare=False)
    _last_holiday: date | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.week) != len(DAYS):
            raise ValueError(f"a week has {len(DAYS)} days, got {len(self.week)}")
        if not self.always_open and not any(self.week):
            raise ValueError(_NEVER_OPEN)
        last_holiday = max(self.holidays) if self.holidays else None
        endless_from: datetime | None = None
        if _covers_week(self.week):
            if last_holiday is None:
                endless_from = datetime.min.replace(tzinfo=UTC)
            else:
                # Days after the holiday carry their own hours and the day before's tail.
                first_full = datetime.combine(last_holiday + timedelta(days=2), time())
                endless_from = _to_utc(first_full, self.zone, fold=0)
        object.__setattr__(self, "_last_holiday", last_holiday)
        object.__setattr__(self, "_endless_from", endless_from)

    @classmethod
    def from_settings(cls, settings: HoursSettings) -> BusinessHours:
        if settings.always_open:
            return cls.always(settings.timezone)
        return cls(
            zone=load_zone(settings.timezone),
            week=tuple(parse_day(day, settings.day_text(day)) for day in DAYS),
            holidays=frozenset(settings.holidays),
        )

    @classmethod
    def always(cls, timezone: str = "UTC") -> BusinessHours:
        """Open 24/7; the zone only matters to callers that show local times."""
        return cls(zone=load_zone(timezone), week=((),) * len(DAYS), always_open=True)

    def is_open(self, at: datetime) -> bool:
        moment = _utc(at)
        if self.always_open:
            return True
        opens, _ = self._period_after(moment)
        return opens <= moment

    def next_open(self, at: datetime) -> datetime:
        """``at`` (in UTC) when open, else the moment the team next opens."""
        moment = _utc(at)
        if self.always_open:
            return moment
        opens, _ = self._period_after(moment)
        return max(opens, moment)

    def next_close(self, at: datetime) -> datetime | None:
        """When the open period holding ``at`` ends; None when the team never closes again.

        When closed at ``at`` this is the end of the period that :meth:`next_open` starts, so
        ``next_open(at) .. next_close(at)`` is always the next stretch of open time.
        """
        if self.always_open:
            _utc(at)
            return None
        _, closes = self._period_after(_utc(at))
        return closes

    def open_seconds_between(self, start: datetime, end: datetime) -> float:
        """Seconds of open time in ``[start, end)``; 0 when ``end <= start``."""
        return self._open_time(_utc(start), _utc(end)).total_seconds()

    def add_open_time(self, start: datetime, seconds: float) -> datetime:
        """The moment ``seconds`` of open time have passed since ``start`` (from its next
        opening when closed), so that ``open_seconds_between(start, result) == seconds``.

        Counting is done on whole microseconds, like timedelta, so both directions agree.
        """
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"open time must be a finite number of seconds >= 0, got {seconds}")
        remaining = timedelta(seconds=seconds)
        moment = _utc(start)
        if self.always_open:
            return moment + remaining
        for opens, closes in self._periods(moment):
            begin = max(opens, moment)
            if closes is None or closes - begin >= remaining:
                return begin + remaining
            remaining -= closes - begin
        raise AssertionError("the open periods never run out")

    def _open_time(self, start: datetime, end: datetime) -> timedelta:
        if end <= start:
            return timedelta(0)
        if self.always_open:
            return end - start
        total = timedelta(0)
        for opens, closes in self._periods(start):
            if opens >= end:
                break
            stop = end if closes is None else min(closes, end)
            total += stop - max(opens, start)
            if stop == end:
                break
        return total

    def _period_after(self, moment: datetime) -> tuple[datetime, datetime | None]:
        return next(self._periods(moment))

    def _periods(self, after: datetime) -> Iterator[tuple[datetime, datetime | None]]:
        """The merged open periods that end after ``after``, earliest first; the sequence
        never ends, and a period whose end is None never closes.

        The walk starts two local days back: an overnight tail reaches at most into the next
        day, and one more day absorbs any DST slack between the local date and the instant.
        """
        day = after.astimezone(self.zone).date() - timedelta(days=2)
        # A guard, not a limit that can be reached: past the last holiday every week has hours.
        give_up = max(day, self._last_holiday or day) + timedelta(days=3 * len(DAYS))
        current: tuple[datetime, datetime] | None = None
        while True:
            for opens, closes in _day_periods(self, day):
                if current is None or opens > current[1]:
                    if current is not None and current[1] > after:
                        yield current
                    current = (opens, closes)
                else:
                    current = (current[0], max(current[1], closes))
            if current is not None:
                if self._endless_from is not None and current[1] >= self._endless_from:
                    yield current[0], None
                    return
            elif day > give_up:
                raise ValueError(_NEVER_OPEN)
            day += timedelta(days=1)


@lru_cache(maxsize=4096)
def _day_periods(hours: BusinessHours, day: date) -> tuple[tuple[datetime, datetime], ...]:
    """The real instants of ``day``'s own intervals (tails included), earliest first.

    Memoised: the router and the queue simulation ask about the same few days over and over,
    and the zone conversions are most of a query's cost.
    """
    if day in hours.holidays:
        return ()
    midnight = datetime.combine(day, time())  # naive: local wall clock
    periods = []
    for start, end in hours.week[day.weekday()]:
        opens = _to_utc(midnight + timedelta(minutes=start), hours.zone, fold=0)
        closes = _to_utc(midnight + timedelta(minutes=end), hours.zone, fold=1)
        if opens < closes:  # an interval inside a spring-forward gap is empty
            periods.append((opens, closes))
    return tuple(periods)


def _utc(at: datetime) -> datetime:
    if at.utcoffset() is None:
        raise ValueError(f"business hours need a timezone-aware datetime, got {at.isoformat()}")
    return at.astimezone(UTC)


def _to_utc(local: datetime, zone: ZoneInfo, *, fold: int) -> datetime:
    """The instant of the naive wall time ``local`` in ``zone``.

    In the repeated hour of a fall-back, ``fold`` picks the first (0) or second (1) occurrence.
    A time skipped by a spring-forward becomes the moment of the change, the first instant whose
    wall time is not earlier than ``local``.
    """
    first = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first <= second:  # equal for an ordinary time, first < second in a repeated hour
        return second if fold else first
    # In a gap zoneinfo reads fold=0 with the offset before the change and fold=1 with the one
    # after, so the change lies in (second, first]. Offsets change on whole seconds in TZif
    # files; bisect for it.
    target = first.astimezone(zone).utcoffset()
    low, high = math.floor(second.timestamp()), math.ceil(first.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == target:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _covers_week(week: tuple[tuple[Span, ...], ...]) -> bool:
    """Whether the weekly wall-clock schedule leaves no minute closed."""
    spans: list[Span] = []
    for index, day_spans in enumerate(week):
        base = index * MINUTES_PER_DAY
        for start, end in day_spans:
            begin, finish = base + start, base + end
            if finish > _MINUTES_PER_WEEK:  # Sunday night into Monday
                spans += [(begin, _MINUTES_PER_WEEK), (0, finish - _MINUTES_PER_WEEK)]
            else:
                spans.append((begin, finish))
    reach = 0
    for begin, finish in sorted(spans):
        if begin > reach:
            return False
        reach = max(reach, finish)
    return reach >= _MINUTES_PER_WEEK
