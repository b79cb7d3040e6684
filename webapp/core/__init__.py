"""Plumbing: settings, the database, security primitives, templating, middleware
and the page cache. Nothing here knows about posts or people, and nothing here
imports from the rest of `webapp`."""
