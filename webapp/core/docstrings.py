"""The libraries loaded without their docstrings, for the command line
(`python -m webapp`) and so for `serve`'s workers:
about 4 MB of every worker's memory is the docstrings of SQLAlchemy,
pydantic, FastAPI, uvicorn, the standard library and the rest, which nothing
in a server reads (`help()` does).

`python -OO` drops them too, but also every `assert` and Agora's own
docstrings, which the API's documentation is made of. Here a module's code,
as it is loaded (from its `.pyc` or its source), has the docstring of each of
its functions replaced by `None` before it runs; once it has run, the module
and the classes it defined (those of a metaclass that does not watch its
attributes) have theirs set to `None`. Nothing else changes, and none of
Agora's own modules, its migrations (Alembic reads their docstrings) or
SQLAlchemy's event modules (which assert their listeners' docstrings at
import) lose theirs; never a function's first constant that its code also
loads.
"""

from __future__ import annotations

import dis
import os
import re
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import CodeType, ModuleType

WEBAPP = str(Path(__file__).resolve().parents[1]) + os.sep
# A class made in C (`ssl.SSLError`) whose attributes cannot be set.
IMMUTABLE_TYPE = 1 << 8
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


def drop_the_rest(module: ModuleType) -> None:
    """The docstrings of a module that has run and of the classes it defined."""
    name = module.__name__
    for value in list(vars(module).values()):
        if (
            isinstance(value, type)
            and value.__module__ == name
            and type(value).__setattr__ is type.__setattr__
            and isinstance(vars(value).get("__doc__"), str)
            and not value.__flags__ & IMMUTABLE_TYPE
        ):
            value.__doc__ = None
    module.__doc__ = None


def drop_library_docstrings() -> None:
    """From now on in this process (and the processes it forks), a module
    loaded from a `.py` or `.pyc` file, outside `keeps_docstrings`, has no
    docstrings."""
    if getattr(SourceFileLoader.get_code, "drops_docstrings", False):
        return
    load, run = SourceFileLoader.get_code, SourceFileLoader.exec_module

    def get_code(self: SourceFileLoader, fullname: str) -> CodeType | None:
        code = load(self, fullname)
        if code is None or keeps_docstrings(fullname, self.path):
            return code
        return without_docstrings(code)

    def exec_module(self: SourceFileLoader, module: ModuleType) -> None:
        run(self, module)
        if not keeps_docstrings(module.__name__, self.path):
            drop_the_rest(module)

    get_code.drops_docstrings = True  # type: ignore[attr-defined]
    SourceFileLoader.get_code = get_code  # type: ignore[method-assign,assignment]
    SourceFileLoader.exec_module = exec_module  # type: ignore[method-assign,assignment]
