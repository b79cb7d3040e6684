"""Ids in paths. Starlette's `int` converter calls `int()` on any run of digits,
and Python refuses to convert more than 4,300 of them (a ValueError, so a 500).
No id has more than 19 digits: longer ones become a number past every id, which
the rules answer as "not found" like any other id too large for the database."""

from __future__ import annotations

from starlette.convertors import IntegerConvertor, register_url_convertor

MAX_DIGITS = 19
PAST_EVERY_ID = 10**MAX_DIGITS


class BoundedIntegerConvertor(IntegerConvertor):
    def convert(self, value: str) -> int:
        return int(value) if len(value) <= MAX_DIGITS else PAST_EVERY_ID


def register() -> None:
    """Replace the `int` converter. It must run before any route is declared:
    Starlette compiles a route's converters when the route is made."""
    register_url_convertor("int", BoundedIntegerConvertor())
