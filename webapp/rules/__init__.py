"""The rules: one module per noun (accounts, sessions, posts, likes, following,
comments, notifications, …), shared by both doors. A rule reads and writes rows
and raises `webapp.errors`; it knows nothing of HTTP, cookies or pages."""
