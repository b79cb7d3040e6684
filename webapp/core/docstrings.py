"""The libraries' functions loaded without their docstrings, for the command
line (`python -m webapp`) and so for `serve`'s workers: about 3 MB of every
worker's memory is the docstrings of SQLAlchemy, pydantic, FastAPI, uvicorn,
the standard library and the rest, which nothing in a server reads (`help()`
does).

`python -OO` drops them too, but also every `assert` and Agora's own
docstrings, which the API's documentation is made of. Here a module's code,
as it is loaded (from its `.pyc` or its source), has the docstring of each of
its functions replaced by `None` before it runs, as `-OO` would, and nothing
else changes: not Agora's own modules, not its migrations (Alembic reads
their docstrings), not SQLAlchemy's event modules (which assert their
listeners' docstrings at import), never a function's first constant that its
code also loads. Classes and modules keep theirs: set to `None` after a
module has run, a class's would be missing while a later module reads it
(`email.policy` extends its base classes' docstrings as it is imported),
where `-OO` leaves none to read.
"""

from __future__ import annotations

import dis
import os
import re
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import CodeType

WEBAPP = str(Path(__file__).resolve().parents[1]) + os.sep
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


def without_docstrings(code: CodeType) -> CodeType:
    """`code` with the docstrings of the functions in it (at any depth) replaced by None."""
    constants = code.co_consts
    changed: list[object] | None = None
    for place, constant in enumerate(constants):
        if isinstance(constant, CodeType):
            lean = without_docstrings(constant)
            if lean is not constant:
                changed = changed or list(constants)
                changed[place] = lean
    if (
        code.co_flags & CO_NEWLOCALS
        and constants
        and isinstance(constants[0], str)
        and not _reads_first_constant(code)
    ):
        changed = changed or list(constants)
        changed[0] = None
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
    function docstrings."""
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
