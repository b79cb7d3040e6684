"""Live updates: what open pages are told over their WebSocket (`/ws`), and
how every worker of every host learns of it (see the README, "Live updates").

- `events`: the changes the database reports (migration 0006's triggers) and
  the messages they become;
- `sources`: how a worker hears of them: PostgreSQL's LISTEN, or SQLite's
  table of events read every tenth of a second;
- `hub`: the sockets a worker holds, what each watches, and the coalescing
  that turns a burst of likes into one message per post.

The socket's door, its handshake and the messages it accepts, is
`webapp.web.live`.
"""
