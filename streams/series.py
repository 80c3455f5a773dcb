"""Series keys: ``family|place[|detail]``, one helper to read and write them.

A feature series is named by its family (``vessels_waiting``, ``dwell_truck_p90``,
``days_of_supply``...) followed by what it is about: a port or region, then a
terminal; or, for inventory, a site, then an item.

>>> k = SeriesKey.parse("dwell_truck_p90|USLAX|APMT")
>>> k.family, k.place, k.detail, str(k)
('dwell_truck_p90', 'USLAX', 'APMT', 'dwell_truck_p90|USLAX|APMT')
>>> SeriesKey.parse("vessels_waiting|san-pedro-bay").detail is None
True
>>> SeriesKey("days_of_supply", ("S1", "chip")).key
'days_of_supply|S1|chip'
"""

from __future__ import annotations

from dataclasses import dataclass

SEPARATOR = "|"


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """A series key split into its family and the fields after it."""

    family: str
    fields: tuple[str, ...] = ()

    @classmethod
    def parse(cls, key: str) -> SeriesKey:
        family, *rest = key.split(SEPARATOR)
        return cls(family, tuple(rest))

    @property
    def place(self) -> str | None:
        """The port, region or site (the first field after the family), if any."""
        return self.fields[0] if self.fields else None

    @property
    def detail(self) -> str | None:
        """The terminal or item (the second field after the family), if any."""
        return self.fields[1] if len(self.fields) > 1 else None

    @property
    def key(self) -> str:
        return SEPARATOR.join((self.family, *self.fields))

    def __str__(self) -> str:
        return self.key


def family_of(key: str) -> str:
    """The family of a series key: the part before the first ``|``.

    >>> family_of("dwell_truck_p90|USLAX|APMT")
    'dwell_truck_p90'
    """
    return key.split(SEPARATOR, 1)[0]


def place_of(key: str) -> str | None:
    """The port, region or site of a series key, if it has one.

    >>> place_of("vessels_waiting|USLGB"), place_of("rejected")
    ('USLGB', None)
    """
    return SeriesKey.parse(key).place


def place_key(key: str) -> str:
    """The place-level series a series rolls up to (``family|place``): an item's site,
    a terminal's port; the key itself otherwise.

    >>> place_key("days_of_supply|S1|A"), place_key("vessels_waiting|P")
    ('days_of_supply|S1', 'vessels_waiting|P')
    """
    return SEPARATOR.join(key.split(SEPARATOR)[:2])
