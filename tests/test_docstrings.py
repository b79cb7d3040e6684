"""`python -m webapp` loads the libraries without their docstrings
(webapp/core/docstrings.py), and changes nothing else they do."""

from __future__ import annotations

import sys
from pathlib import Path
from types import CodeType

import pytest

from tests.support.cli import run_python
from webapp.core.docstrings import keeps_docstrings, lines_only, without_docstrings

SOURCE = '''
"""The module's own."""

def plain(a):
    """Gone."""
    return a + 1

def said_twice():
    """Also the value."""
    return "Also the value."

class Kept:
    """Gone as well."""

    def method(self):
        """Gone too."""

        def inner():
            """And this."""
            return 2

        return inner()

lambda_ = lambda: "first"

class Twice:
    """Said twice."""

    value = "Said twice."
'''


def test_functions_classes_and_the_module_lose_their_docstrings_and_nothing_else() -> None:
    namespace: dict[str, object] = {}
    exec(without_docstrings(compile(SOURCE, "<module>", "exec")), namespace)  # noqa: S102
    plain, said_twice, kept = namespace["plain"], namespace["said_twice"], namespace["Kept"]
    assert namespace["__doc__"] is None
    assert plain.__doc__ is None and plain(1) == 2  # type: ignore[attr-defined,operator]
    # Its code loads the same string: the constant stays, and so does the docstring.
    assert said_twice() == "Also the value." == said_twice.__doc__  # type: ignore[attr-defined,operator]
    assert kept.__doc__ is None
    assert kept.method.__doc__ is None and kept().method() == 2  # type: ignore[attr-defined]
    assert namespace["lambda_"]() == "first"  # type: ignore[operator]
    twice = namespace["Twice"]
    assert twice.__doc__ == "Said twice." == twice.value  # type: ignore[attr-defined]


LINES = (
    "def far(a, b):\n"
    "    x = (a +\n"
    "         b)\n"
    "    try:\n"
    "        return [i * x for i in range(a) if i % 2]\n"
    "    finally:\n"
    "        x = 0\n" + "\n" * 300 + "    y = lambda: (\n"
    "        a)\n"
    "    return y() if x else x\n"
)


def codes(code: CodeType) -> list[CodeType]:
    """`code` and every code object in it, depth first."""
    inner = [c for const in code.co_consts if isinstance(const, CodeType) for c in codes(const)]
    return [code, *inner]


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the location table of CPython 3.11")
def test_each_instruction_keeps_its_line_and_loses_its_columns() -> None:
    # Lines far apart (deltas of several varint bytes, forwards and back),
    # expressions over two lines, instructions of no line (the `finally`'s).
    for code in codes(compile(LINES, "<lines>", "exec")):
        lean = code.replace(co_linetable=lines_only(code.co_linetable))
        assert [p[0] for p in lean.co_positions()] == [p[0] for p in code.co_positions()]
        assert all(p[2] is None and p[3] is None for p in lean.co_positions())
        assert len(lean.co_linetable) < len(code.co_linetable)
    namespace: dict[str, object] = {}
    exec(without_docstrings(compile(LINES, "<lines>", "exec")), namespace)  # noqa: S102
    assert namespace["far"](3, 1) == [4]  # type: ignore[operator]


def test_agoras_modules_its_migrations_and_sqlalchemys_events_keep_theirs() -> None:
    webapp = Path(__file__).resolve().parents[1] / "webapp"
    assert keeps_docstrings("webapp.rules.posts", str(webapp / "rules" / "posts.py"))
    assert keeps_docstrings("0025_write_checks", str(webapp / "migrations" / "versions" / "x.py"))
    assert keeps_docstrings("alembic.operations", "/site-packages/alembic/operations/__init__.py")
    assert keeps_docstrings("sqlalchemy.orm.events", "/site-packages/sqlalchemy/orm/events.py")
    assert keeps_docstrings("sqlalchemy.event.base", "/site-packages/sqlalchemy/event/base.py")
    session = "/site-packages/sqlalchemy/orm/session.py"
    assert not keeps_docstrings("sqlalchemy.orm.session", session)


IN_SERVE = """
from webapp.core.docstrings import drop_library_docstrings
drop_library_docstrings()
import email.policy, sqlalchemy.orm.session
import webapp.app, webapp.core.security
assert sqlalchemy.orm.session.Session.execute.__doc__ is None
# Classes and modules too, as they are loaded: email.policy, which reads its
# bases' as it is imported, finds none there either, as under -OO.
assert sqlalchemy.orm.session.Session.__doc__ is None is sqlalchemy.orm.session.__doc__
assert email.policy.EmailPolicy.__doc__ is None
# Agora's own keep theirs.
assert webapp.core.security.PasswordHasher.hash_now.__doc__ and webapp.core.security.__doc__
assert webapp.core.security.PasswordHasher.__doc__
# A library's code keeps the line of every instruction, not the columns.
import sys, types
if sys.version_info[:2] == (3, 11):
    session = sqlalchemy.orm.session
    fresh = compile(open(session.__file__).read(), session.__file__, "exec")
    def lines(code):
        found = [p[0] for p in code.co_positions()]
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                found += lines(const)
        return found
    loaded = session.Session.execute.__code__
    original = next(c for c in fresh.co_consts if getattr(c, "co_name", "") == "Session")
    # The last `execute` of the class body: the others are its overloads.
    original = [c for c in original.co_consts if getattr(c, "co_name", "") == "execute"][-1]
    assert lines(loaded) == lines(original) and len(lines(loaded)) > 20
    assert all(p[2] is None for p in loaded.co_positions())
print("ok")
"""


@pytest.mark.skipif(sys.platform == "win32", reason="fork-free platforms run the same, tested once")
def test_the_libraries_loaded_after_it_have_no_docstrings(tmp_path: Path) -> None:
    env = {"PYTHONDONTWRITEBYTECODE": "1"}
    result = run_python("-c", IN_SERVE, cwd=tmp_path, env=env)
    assert result.stdout.strip() == "ok", result.stderr
