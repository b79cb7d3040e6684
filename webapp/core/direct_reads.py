"""The busiest reads and writes, answered before routing
(`webapp.core.middleware.Gate`): each door names a few of its GET routes with
a path pattern (`DirectRoute`), and a few POST routes that take a JSON body
(`DirectWrite`), and they are called here with their dependencies made in a
few lines.

Resolving a route's dependencies costs a page more than its own statement
(the framework inspects each one, opens an exit stack, validates every
parameter), and routing tries every route in turn: a random post or profile,
which no cache holds, paid that on every request. The functions called are
the routes themselves, so a page has one body whichever way it is reached;
what is skipped is only the machinery that finds and feeds them. A request
that no pattern takes (another method or path, a query or header a route
must refuse or read through its declared dependencies) goes on to the app,
as does a write whose body is not plain JSON that its model takes: the
route's own validation answers that one, in the framework's shape.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import SchemaValidator
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Scope

from webapp.core import bodies, route_templates
from webapp.core.db import new_session
from webapp.core.deps import services_of
from webapp.core.paths import IdConvertor

# How an exception that a route raised is answered (the app's error handlers),
# or None for one that only the outermost handler answers (a 500).
ErrorAnswer = Callable[[Request, Exception], Awaitable[Response | None]]
# What answers first, from the scope alone (the shared pages), or None.
FirstAnswer = Callable[[Scope], Awaitable[ASGIApp | None]]

_ID = IdConvertor()


class Call:
    """One request on its way to a route: what the route's dependencies would
    have been."""

    __slots__ = ("_params", "db", "numbers", "request")

    def __init__(self, scope: Scope, db: AsyncSession, numbers: Mapping[str, int] | None) -> None:
        """`numbers`: the query's whole numbers, read already (a `plain`
        route's: `DirectRoute.numbers_in`), or None to read the query here."""
        self.request = Request(scope)
        self.db = db
        self.numbers = numbers or {}
        # Parsed only for an address with a query: most have none (a random
        # post's), and parsing an empty one cost a page 17 calls.
        query: bytes = scope["query_string"]
        self._params = QueryParams(query) if query and numbers is None else None

    def query(self, name: str, default: str) -> str:
        """A query parameter as the framework reads a `str` one: the last value."""
        value = None if self._params is None else self._params.get(name)
        return default if value is None else value

    @property
    def session(self) -> dict[str, Any]:
        return self.request.session


@dataclass(frozen=True)
class DirectRoute:
    """A GET route with at most one id in its path (`{name:id}`), called as
    `call(call, id)` (0 for a path without one). `plain`: taken only without
    an Authorization header, and without a query string except the whole
    numbers named in `numbers`, each once and within its range (the API's
    routes, whose query and token have declared readers: anything else, a
    value they must refuse included, goes to them)."""

    pattern: re.Pattern[str]
    call: Callable[[Call, int], Awaitable[Response]]
    template: str  # the route's, as the log and the metrics name it
    plain: bool = False
    numbers: Mapping[str, range] = field(default_factory=dict)

    def numbers_in(self, query: bytes) -> dict[str, int] | None:
        """The query's numbers by name, when this route takes it, else None."""
        found: dict[str, int] = {}
        if not query:
            return found
        for pair in query.split(b"&"):
            name, _, value = pair.partition(b"=")
            key = name.decode("latin-1")
            allowed = self.numbers.get(key)
            # bytes.isdigit() is ASCII digits alone: "²" is two other bytes.
            if allowed is None or key in found or not (value.isdigit() and len(value) <= 10):
                return None
            number = found[key] = int(value)
            if number not in allowed:
                return None
        return found


@dataclass(frozen=True)
class DirectWrite:
    """A POST route at `path` whose body is one model (`body`, as the route
    declares it), called as `call(request, data)`. Taken only when the
    middleware read the body as plain JSON (`bodies.JSON_VALUE`) and the model
    takes it, validated as the framework validates a body; the call is then
    the route's own function, which reads its token and answers every rule
    as it would after routing."""

    path: str
    body: BodyValidator
    call: Callable[[Request, Any], Awaitable[Response]]
    template: str

    def data(self, scope: Scope) -> Any | None:
        """The body as the route's model, or None: the route answers it."""
        value = scope.get(bodies.JSON_VALUE, bodies.NOT_JSON)
        if value is bodies.NOT_JSON:
            return None
        try:
            return self.body.validate_python(value)
        except ValidationError:
            return None


class BodyValidator:
    """A model's fields validated by the model's own checks (its fields', its
    config), and the model made of them as pydantic makes one, without the
    class's `__init__`. SQLModel gives every model one, which pydantic calls
    with the body as keyword arguments and which validates them again as the
    model's own instance: a second pass through the validator, a third of a
    new post's validation. (A validator built from the model's schema would
    be the class's own: pydantic reuses it, `__init__` and all.) A body it
    refuses is left to the route, which validates it as it always does and
    answers its 422."""

    def __init__(self, model: type[BaseModel]) -> None:
        schema = model.__pydantic_core_schema__
        # A model's fields and nothing around them: no model validator, no
        # `model_post_init`, not a root model (what the model would do that
        # its fields' validation does not).
        assert schema["type"] == "model", model
        assert not schema.get("post_init") and not schema.get("root_model"), model
        assert schema["schema"]["type"] == "model-fields", model
        self.model = model
        self.fields = SchemaValidator(schema["schema"], schema.get("config"))

    def validate_python(self, value: Any) -> Any:
        values, extra, fields_set = self.fields.validate_python(value, from_attributes=True)
        model = object.__new__(self.model)
        object.__setattr__(model, "__dict__", values)
        object.__setattr__(model, "__pydantic_fields_set__", fields_set)
        object.__setattr__(model, "__pydantic_extra__", extra)
        object.__setattr__(model, "__pydantic_private__", None)
        return model


# How many sessions left as they were made are kept for the next reads: as many
# as run at once, at most.
SPARE_SESSIONS = 8


def _as_made(db: AsyncSession) -> bool:
    """Whether a session holds nothing a request left in it: no transaction,
    no object (an object changed is one it holds), nothing noted (`info`)."""
    sync = db.sync_session
    return not (
        sync.in_transaction() or len(sync.identity_map) or sync.new or sync.deleted or sync.info
    )


def id_path(prefix: str) -> re.Pattern[str]:
    """`/posts/` -> the paths `/posts/{post_id:id}` takes."""
    return re.compile(re.escape(prefix) + "([0-9]+)")


class DirectReads:
    """The answer given before routing: `first` (the shared pages), then the
    read routes, each on a database session of its own, and the writes, which
    open their own."""

    def __init__(
        self,
        routes: Sequence[DirectRoute],
        first: FirstAnswer,
        answer_error: ErrorAnswer,
        writes: Sequence[DirectWrite] = (),
    ) -> None:
        self.routes = tuple(routes)
        self.first = first
        self.answer_error = answer_error
        self.writes = {write.path: write for write in writes}
        # Sessions that requests left as they were made, for the next ones.
        self._spare: list[AsyncSession] = []

    def route_for(self, scope: Scope) -> tuple[DirectRoute, int, dict[str, int] | None] | None:
        """The route, the id in the path (0 for none), and a `plain` route's
        numbers of the query."""
        path: str = scope["path"]
        for route in self.routes:
            match = route.pattern.fullmatch(path)
            if match is None:
                continue
            numbers = None
            if route.plain:
                numbers = route.numbers_in(scope["query_string"])
                if numbers is None or any(name == b"authorization" for name, _ in scope["headers"]):
                    return None
            return route, _ID.convert(match.group(1)) if match.lastindex else 0, numbers
        return None

    async def __call__(self, scope: Scope) -> ASGIApp | None:
        if scope["method"] != "GET":
            return await self._write(scope) if scope["method"] == "POST" else None
        answer = await self.first(scope)
        if answer is not None:
            return answer
        found = self.route_for(scope)
        if found is None:
            return None
        route, number, numbers = found
        scope[route_templates.SCOPE_KEY] = route.template
        engine = services_of(scope["app"]).engine
        db = self._spare.pop() if self._spare and self._spare[-1].bind is engine else None
        if db is None:
            db = new_session(engine)
        call = Call(scope, db, numbers)
        try:
            return await self._answer(call.request, route.call(call, number))
        finally:
            # An anonymous page reads on a pooled connection of its own
            # (`DriverStatement`), and leaves the session as it was made:
            # nothing to close then (closing costs a page a tenth of its
            # database calls), and it serves the next request (making one
            # costs a small read a tenth of its Python time).
            if db.in_transaction():
                await db.close()
            elif _as_made(db) and len(self._spare) < SPARE_SESSIONS:
                self._spare.append(db)

    async def _write(self, scope: Scope) -> ASGIApp | None:
        write = self.writes.get(scope["path"])
        if write is None:
            return None
        data = write.data(scope)
        if data is None:
            return None
        scope[route_templates.SCOPE_KEY] = write.template
        request = Request(scope)
        return await self._answer(request, write.call(request, data))

    async def _answer(self, request: Request, called: Awaitable[Response]) -> Response:
        """What a route answers, or what the app's handlers answer what it raised."""
        try:
            return await called
        except Exception as error:
            refused = await self.answer_error(request, error)
            if refused is None:
                raise
            return refused
