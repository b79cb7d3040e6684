"""The JSON door: /api, bearer tokens."""

from webapp.core import paths

# Before any API module declares a route: their ids are `{name:id}`.
paths.register()
