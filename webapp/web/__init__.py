"""The page door: HTML pages, the session cookie, CSRF, and the live socket."""

from webapp.core import paths

# Before any page module declares a route: their ids are `{name:id}`.
paths.register()
