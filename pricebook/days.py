"""Day arithmetic held within the calendar.

Any date a client may send is a valid `date`, 0001-01-01 to 9999-12-31, and every window the
service reckons from one — a filter's next day, a market or repeat-claim window reaching back,
a chart's margin, a trend's weeks — can step past either end, where `date + timedelta` raises
`OverflowError` (a 500). These helpers stop at the end instead: nothing is stored out there, so
a window cut at the calendar's edge selects what the uncut one would have.

PostgreSQL holds the calendar's ends as `infinity` and `-infinity` when asyncpg (the API's
driver) writes them, and psycopg (the CLI's, the imports') cannot read those by itself:
`pricebook.db` gives psycopg the same mapping both ways, and `from_iso` reads them as text.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta


def days_from(day: date, days: int) -> date:
    """`day` + `days`, held within the calendar."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.min if days < 0 else date.max


def day_start(day: date) -> datetime:
    """The first instant of `day`, UTC."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def day_end(day: date) -> datetime:
    """The first instant after `day`, UTC (the last one the calendar holds for 9999-12-31):
    the exclusive bound of a filter `to` that includes its day."""
    if day == date.max:
        return datetime.combine(day, time.max, tzinfo=UTC)
    return day_start(day + timedelta(days=1))


#: PostgreSQL's text of the calendar's ends, as asyncpg writes `date.max` and `date.min`
_ENDS = {"infinity": date.max, "-infinity": date.min}


def from_iso(text: str) -> date:
    """A date as PostgreSQL writes it in text (JSON included): ISO, or ±infinity for the
    calendar's ends."""
    return _ENDS.get(text) or date.fromisoformat(text)
