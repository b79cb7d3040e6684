"""The libraries loaded without their docstrings, for the command line
(`python -m webapp`) and so for `serve`'s workers: about 4 MB of every
worker's memory is the docstrings of SQLAlchemy, pydantic, FastAPI, uvicorn,
the standard library and the rest, which nothing in a server reads (`help()`
does).

`python -OO` drops them too, but also every `assert` and Agora's own
docstrings, which the API's documentation is made of. Here a module's code,
as it is loaded (from its `.pyc` or its source), has its docstrings replaced
by `None` before it runs, as `-OO` leaves none: each function's, each class
body's and the module's own; never a constant that the code also reads.
Nothing else changes, and none are dropped from Agora's own modules, its
migrations (Alembic reads their docstrings) or SQLAlchemy's event modules
(which assert their listeners' docstrings as they are imported). Dropped
after a module has run instead, a class's docstring would be missing where a
later module reads it (`email.policy` extends its bases' as it is imported);
dropped as it is loaded, it is missing everywhere, as under `-OO`, which the
libraries allow for.

The same code keeps the line of each instruction and drops its columns
(`lines_only`), as `-X no_debug_ranges` would had the code been compiled
under it (a `.pyc` made without it keeps them): a library's traceback still
names each line, without the `^^^^` under the expression that failed. The
columns were 1.75 of the 2.5 MB of the libraries' line tables, about 1.1 MB
of every worker's resident memory. The table's format is CPython 3.11's
(`Objects/locations.md`); under another version the columns stay.
"""

from __future__ import annotations

import dis
import os
import re
import sys
from collections import Counter
from collections.abc import Iterator
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import CodeType
from typing import Any

WEBAPP = str(Path(__file__).resolve().parents[1]) + os.sep
LOAD_CONST, STORE_NAME, CACHE = (dis.opmap[name] for name in ("LOAD_CONST", "STORE_NAME", "CACHE"))
# A function's code: its first constant is its docstring, or None.
CO_NEWLOCALS = 0x2
# An instruction that loads the first constant: an opcode that reads a
# constant, with argument 0 (two bytes an instruction); unless an
# EXTENDED_ARG comes before it, that is `co_consts[0]`.
_READS_FIRST_CONSTANT = re.compile(
    b"[" + b"".join(re.escape(bytes([op])) for op in dis.hasconst) + b"]\x00", re.DOTALL
)


# The kinds of entry of a 3.11 location table (the top bit of its first byte
# set, then four bits of kind and three of the instructions it covers, less
# one): 0 to 9 the same line as the last, with a byte of columns; 10 to 12
# the last line plus 0, 1 or 2, with two bytes of columns; NO_COLUMNS a
# signed line delta alone; LONG a signed line delta, then the end line's
# delta and the two columns; NO_LOCATION nothing (no line at all).
ONE_LINE_FIRST, NO_COLUMNS, LONG, NO_LOCATION = 10, 13, 14, 15
MOST_INSTRUCTIONS = 8  # an entry covers 1 to 8 code units
TRIMS_COLUMNS = sys.version_info[:2] == (3, 11)


def _varint(table: bytes, at: int) -> tuple[int, int]:
    """An unsigned varint of the table (6 bits a byte, the 7th: more follow)
    read at `at`, and where the next thing starts."""
    byte = table[at]
    value, shift = byte & 63, 0
    while byte & 64:
        at += 1
        byte = table[at]
        shift += 6
        value |= (byte & 63) << shift
    return value, at + 1


def _signed_varint(table: bytes, at: int) -> tuple[int, int]:
    value, at = _varint(table, at)
    return (-(value >> 1) if value & 1 else value >> 1), at


def _line_deltas(table: bytes) -> Iterator[tuple[int, int | None]]:
    """(code units, line delta or None for no line) of each entry."""
    at = 0
    while at < len(table):
        first = table[at]
        kind, units = (first >> 3) & 15, (first & 7) + 1
        at += 1
        delta: int | None
        if kind == NO_LOCATION:
            delta = None
        elif kind in (NO_COLUMNS, LONG):
            delta, at = _signed_varint(table, at)
            if kind == LONG:
                for _ in range(3):
                    _, at = _varint(table, at)
        elif kind >= ONE_LINE_FIRST:
            delta, at = kind - ONE_LINE_FIRST, at + 2
        else:
            delta, at = 0, at + 1
        yield units, delta


def lines_only(table: bytes) -> bytes:
    """A 3.11 location table giving each instruction the same line as `table`
    does, without columns: runs on one line become one entry where they fit."""
    entries: list[list[int]] = []  # [kind, code units, line delta]
    for units, delta in _line_deltas(table):
        kind = NO_LOCATION if delta is None else NO_COLUMNS
        last = entries[-1] if entries else None
        if last and last[0] == kind and not delta and last[1] + units <= MOST_INSTRUCTIONS:
            last[1] += units
        else:
            entries.append([kind, units, delta or 0])
    out = bytearray()
    for kind, units, delta in entries:
        out.append(0x80 | kind << 3 | (units - 1))
        if kind == NO_COLUMNS:
            value = (-delta << 1) | 1 if delta < 0 else delta << 1
            while value >= 64:
                out.append(value & 63 | 64)
                value >>= 6
            out.append(value)
    return bytes(out)


def _reads_first_constant(code: CodeType) -> bool:
    instructions = code.co_code
    for found in _READS_FIRST_CONSTANT.finditer(instructions):
        at = found.start()
        if at % 2 == 0 and (at == 0 or instructions[at - 2] != dis.EXTENDED_ARG):
            return True
    return False


def _instructions(code: CodeType) -> Iterator[tuple[int, int]]:
    """(opcode, argument) of each instruction, EXTENDED_ARG folded in."""
    instructions, extended = code.co_code, 0
    for at in range(0, len(instructions), 2):
        opcode, argument = instructions[at], instructions[at + 1] | extended
        extended = argument << 8 if opcode == dis.EXTENDED_ARG else 0
        if opcode != dis.EXTENDED_ARG:
            yield opcode, argument


def _stored_docstring(code: CodeType) -> int | None:
    """Where in a module's or a class body's constants the docstring it stores
    in `__doc__` is, if no other instruction reads that constant."""
    reads: Counter[int] = Counter()
    stored = previous = None
    for opcode, argument in _instructions(code):
        if opcode in dis.hasconst:
            reads[argument] += 1
        if (
            opcode == STORE_NAME
            and code.co_names[argument] == "__doc__"
            and previous is not None
            and previous[0] == LOAD_CONST
        ):
            stored = previous[1]
        if opcode != CACHE:
            previous = (opcode, argument)
    if stored is None or reads[stored] != 1 or not isinstance(code.co_consts[stored], str):
        return None
    return stored


def without_docstrings(code: CodeType) -> CodeType:
    """`code` with the docstrings of the functions and classes in it (at any
    depth), and its own as a module's, replaced by None; under 3.11, with
    their lines and without their columns (`lines_only`)."""
    constants = code.co_consts
    changed: list[object] | None = None
    for place, constant in enumerate(constants):
        if isinstance(constant, CodeType):
            lean = without_docstrings(constant)
            if lean is not constant:
                changed = changed or list(constants)
                changed[place] = lean
    if code.co_flags & CO_NEWLOCALS:
        docstring = 0 if constants and isinstance(constants[0], str) else None
        if docstring is not None and _reads_first_constant(code):
            docstring = None
    else:  # a module or a class body: `__doc__ = "..."`, stored by name
        docstring = _stored_docstring(code)
    if docstring is not None:
        changed = changed or list(constants)
        changed[docstring] = None
    replaced: dict[str, Any] = {}
    if changed is not None:
        replaced["co_consts"] = tuple(changed)
    if TRIMS_COLUMNS:
        replaced["co_linetable"] = lines_only(code.co_linetable)
    return code.replace(**replaced) if replaced else code


def keeps_docstrings(module: str, path: str) -> bool:
    return (
        path.startswith(WEBAPP)
        or module.partition(".")[0] == "alembic"
        or module.startswith("sqlalchemy.event")
        or module.endswith(".events")
    )


def drop_library_docstrings() -> None:
    """From now on in this process (and the processes it forks), a module
    loaded from a `.py` or `.pyc` file, outside `keeps_docstrings`, has no
    docstrings."""
    if getattr(SourceFileLoader.get_code, "drops_docstrings", False):
        return
    load = SourceFileLoader.get_code

    def get_code(self: SourceFileLoader, fullname: str) -> CodeType | None:
        code = load(self, fullname)
        if code is None or keeps_docstrings(fullname, self.path):
            return code
        return without_docstrings(code)

    get_code.drops_docstrings = True  # type: ignore[attr-defined]
    SourceFileLoader.get_code = get_code  # type: ignore[method-assign,assignment]
