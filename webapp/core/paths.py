"""Ids in paths, written `{post_id:id}`. Starlette's `int` converter calls
`int()` on any run of digits, and Python refuses to convert more than 4,300 of
them (a ValueError, so a 500). No id has more than 19 digits: longer ones
become a number past every id, which the rules answer as "not found" like any
other id too large for the database.

Starlette compiles a route's converters when the route is declared, from one
registry for the whole process; so each door's package calls `register()`
before any of its modules declares a route. It adds the name `id` and changes
no other: every other app's `int` stays Starlette's."""

from __future__ import annotations

from starlette.convertors import CONVERTOR_TYPES, IntegerConvertor, register_url_convertor

ID = "id"
MAX_DIGITS = 19
PAST_EVERY_ID = 10**MAX_DIGITS


class IdConvertor(IntegerConvertor):
    def convert(self, value: str) -> int:
        return int(value) if len(value) <= MAX_DIGITS else PAST_EVERY_ID


def register() -> None:
    """Make `{name:id}` known to the routes declared from now on."""
    if not isinstance(CONVERTOR_TYPES.get(ID), IdConvertor):
        register_url_convertor(ID, IdConvertor())
