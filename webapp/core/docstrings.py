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
"""

from __future__ import annotations

import dis
import os
import re
from collections import Counter
from collections.abc import Iterator
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import CodeType

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
    depth), and its own as a module's, replaced by None."""
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
    return code if changed is None else code.replace(co_consts=tuple(changed))


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
