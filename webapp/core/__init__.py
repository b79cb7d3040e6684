"""Plumbing: settings, the database, security primitives, templating, middleware
and the page cache. Nothing here knows about posts or people, and nothing here
imports from the rest of `webapp`."""

from webapp.core import paths

# Here, because every router imports from `webapp.core` before it declares a route.
paths.register()
