"""The sockets one worker holds, what each watches, and who hears of what.

Every event reaches the hub from its source (`webapp.live.sources`). Counts
are coalesced: a post liked a thousand times in a second sends each watcher
its latest counts once per `window` (50 ms), not a thousand messages; unread
counts likewise, read for all the users concerned in one statement. Posts
created and deleted go out at once, in order, to every socket.

Each socket has a bounded queue of messages waiting to be written, and a task
that writes them while there are any. A client that does not read lets its
queue fill: it is then disconnected (1008) instead of growing the worker's
memory.

A logged-in socket closes when its session expires (`SessionEnds`), with
no message between hosts: each knows the ends of its own sockets' sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict, deque
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.websockets import WebSocket

from webapp.core.db import new_session
from webapp.live import events
from webapp.live.places import POLICY, Places
from webapp.live.session_ends import SessionEnds
from webapp.live.sources import Source
from webapp.rules import follows, notifications, posts, safety, suspensions

log = logging.getLogger("webapp.live")

MAX_WATCHED = 100  # posts per socket: more than any page shows
QUEUE_SIZE = 64  # messages waiting for one socket before it is dropped (an answer counts once)
WINDOW = 0.05  # seconds over which count changes are coalesced
# While anyone is suspended, a post's comment count is not the one its row
# holds (`suspensions.COMMENT_COUNT`): counts are then read, not taken from
# the events. Whether anyone is, is asked again after this many seconds (a
# suspension ends by itself), and at once when a suspension is heard of.
SUSPENSIONS_CHECKED_FOR = 10.0

GOING_AWAY = 1001

News = events.PostCreated | events.PostDeleted | events.ShieldChanged


class Client:
    """One open socket: who it is for, the posts it watches, and what waits to
    be written to it. Idle, it holds no task and an empty deque: most sockets
    are idle most of the time, and each costs the worker memory."""

    __slots__ = (
        "_pending",
        "_writer",
        "closed",
        "session_id",
        "shield",
        "user_id",
        "watching",
        "websocket",
    )

    def __init__(
        self,
        websocket: WebSocket,
        user_id: int | None,
        session_id: int | None,
        shield: safety.Shield = safety.NOBODY,
    ) -> None:
        self.websocket = websocket
        self.user_id = user_id
        self.session_id = session_id
        # Whom this visitor blocks and mutes (changed as they change it): the
        # new posts of those their feeds leave out are not announced to it,
        # and the posts of those they block are not theirs to watch.
        self.shield = shield
        self.watching: frozenset[int] = frozenset()
        self.closed = False
        self._pending: deque[str | tuple[str, ...]] = deque()
        # Writing what is pending, or closing the socket; None when idle.
        self._writer: asyncio.Task[None] | None = None

    def send(self, message: str | tuple[str, ...]) -> None:
        """Queue a message, or a tuple of them that counts once against the
        queue's bound: a subscription's answer (`subscribed` and up to 100
        counts) is the client's own request, not a flood it fails to read."""
        if self.closed:
            return
        if len(self._pending) >= QUEUE_SIZE:
            self.close(POLICY, "Too many messages waiting: the client does not read them.")
            return
        self._pending.append(message)
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())

    def close(self, code: int, reason: str = "") -> None:
        """Close from the server's side, now: whatever waits is dropped, and a
        write stuck on a client that does not read is abandoned."""
        if self.closed:
            return
        self.closed = True
        self._pending.clear()
        if self._writer is not None:
            self._writer.cancel()
        self._writer = asyncio.get_running_loop().create_task(self._close(code, reason))

    async def finish(self) -> None:
        """For the socket's handler, once it stops reading: stop writing (unless
        the server is closing the socket: then let the close frame go)."""
        writer = self._writer
        if not self.closed:
            self.closed = True
            self._pending.clear()
            if writer is not None:
                writer.cancel()
        if writer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _write(self) -> None:
        try:
            while self._pending and not self.closed:
                item = self._pending.popleft()
                for message in (item,) if isinstance(item, str) else item:
                    if self.closed:
                        break
                    await self.websocket.send_text(message)
        except Exception:  # the client went away: its handler hears of it
            self.closed = True
        finally:
            if not self.closed:
                self._writer = None

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):  # already gone, or closing anyway
            await self.websocket.close(code, reason)


class Hub:
    def __init__(self, engine: AsyncEngine, source: Source, places: Places) -> None:
        self.engine = engine
        self.source = source
        self.places = places
        self.clients: set[Client] = set()
        self._watchers: defaultdict[int, set[Client]] = defaultdict(set)
        self._of_user: defaultdict[int, set[Client]] = defaultdict(set)
        self._of_session: defaultdict[int, set[Client]] = defaultdict(set)
        # Waiting for the end of the window: the latest counts of each post,
        # the users whose unread count moved, the posts to read again.
        self._changed: dict[int, events.PostChanged] = {}
        self._unread: set[int] = set()
        self._stale: set[int] = set()
        self._flushing: asyncio.Task[None] | None = None
        # Posts published and deleted, told in the order they happened, and
        # the blocks and mutes that change who is told of them, in theirs.
        self._news: asyncio.Queue[News] = asyncio.Queue()
        self._telling: asyncio.Task[None] | None = None
        self._listening: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._session_ends = SessionEnds(self._session_expired)
        # Whether anyone is suspended, and until when (monotonic) that holds.
        self._anyone_suspended = True
        self._suspensions_checked_until = 0.0
        self._authors: set[asyncio.Task[None]] = set()

    # --- the source -----------------------------------------------------------

    async def start(self) -> None:
        """Listen, if this worker does not yet (the first socket starts it):
        returns once events are heard, so that a socket accepted after it
        misses none."""
        loop = asyncio.get_running_loop()
        task = self._listening
        if task is None or task.done() or task.get_loop() is not loop:
            # First use, or the loop of the last one is gone (a test client's).
            self._ready = asyncio.Event()
            self._news = asyncio.Queue()
            self._listening = loop.create_task(
                self.source.run(self.deliver, self._ready, self.resync)
            )
            self._telling = loop.create_task(self._tell_news())
        await self._ready.wait()

    async def stop(self) -> None:
        self._session_ends.stop()
        for client in list(self.clients):
            client.close(GOING_AWAY, "The server is restarting.")
        for task in (self._listening, self._telling, self._flushing, *self._authors):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                    await task

    def deliver(self, payload: str) -> None:
        event = events.parse(payload)
        if isinstance(event, events.PostChanged):
            self._changed[event.id] = event
            self._flush_soon()
        elif isinstance(event, events.UnreadChanged):
            if event.user in self._of_user:
                self._unread.add(event.user)
                self._flush_soon()
        elif isinstance(event, (events.PostCreated, events.PostDeleted)):
            if isinstance(event, events.PostDeleted):
                self._changed.pop(event.id, None)
            self._news.put_nowait(event)
        elif isinstance(event, events.ShieldChanged):
            if event.user in self._of_user:
                self._news.put_nowait(event)
        elif isinstance(event, events.CommentEvent):
            self._send_comment(event)
        elif isinstance(event, events.AuthorChanged):
            self._suspensions_checked_until = 0.0
            task = asyncio.get_running_loop().create_task(self._tell_author(event))
            self._authors.add(task)  # held until done: the loop keeps only weak references
            task.add_done_callback(self._authors.discard)
        elif isinstance(event, events.SessionEnded):
            for client in list(self._of_session.get(event.session, ())):
                client.close(POLICY, "The session has ended.")

    def resync(self) -> None:
        """Events may have been missed: read every watched post's counts and
        every user's unread count again."""
        self._stale.update(self._watchers)
        self._unread.update(self._of_user)
        self._flush_soon()

    # --- sockets --------------------------------------------------------------

    def join(
        self,
        websocket: WebSocket,
        user_id: int | None,
        session_id: int | None,
        expires_at: datetime | None = None,
        shield: safety.Shield = safety.NOBODY,
    ) -> Client:
        """A socket accepted; `expires_at`: its session's end, when it closes;
        `shield`: whom its visitor blocks and mutes."""
        client = Client(websocket, user_id, session_id, shield)
        self.clients.add(client)
        if user_id is not None:
            self._of_user[user_id].add(client)
        if session_id is not None:
            self._of_session[session_id].add(client)
            if expires_at is not None:
                self._session_ends.add(session_id, expires_at)
        return client

    def leave(self, client: Client) -> None:
        self.clients.discard(client)
        self._watch(client, ())
        _discard(self._of_user, client.user_id, client)
        _discard(self._of_session, client.session_id, client)
        if client.session_id is not None and client.session_id not in self._of_session:
            self._session_ends.discard(client.session_id)

    def _session_expired(self, session_id: int) -> None:
        for client in list(self._of_session.get(session_id, ())):
            client.close(POLICY, "The session has expired.")

    async def subscribe(self, client: Client, post_ids: list[int]) -> None:
        """Watch these posts instead of the previous ones, and send the ids
        accepted with their counts now.

        They are watched before they are read, so that no change committed in
        between is lost; meanwhile a draft's counts reach its owner alone, as
        always (`_send_counts`), and an unknown id has none to send."""
        wanted = list(dict.fromkeys(post_ids))[:MAX_WATCHED]
        self._watch(client, wanted)
        async with new_session(self.engine) as db:
            counts = await posts.visible_counts(
                db, wanted, client.user_id, blocked=client.shield.blocked
            )
        accepted = [post_id for post_id in wanted if post_id in counts]
        if client.closed:
            return
        self._watch(client, accepted)
        client.send(
            (
                events.subscribed_message(accepted),
                *(events.counts_message(post_id, *counts[post_id]) for post_id in accepted),
            )
        )

    def _watch(self, client: Client, post_ids: Iterable[int]) -> None:
        new = frozenset(post_ids)
        for post_id in client.watching - new:
            _discard(self._watchers, post_id, client)
        for post_id in new - client.watching:
            self._watchers[post_id].add(client)
        client.watching = new

    def _to_all(self, message: str) -> None:
        for client in list(self.clients):
            client.send(message)

    # --- new and deleted posts ------------------------------------------------

    async def _tell_news(self) -> None:
        """Every socket hears of a post published or deleted, at once and in
        order. A new post's message says `followed` to the sockets of the
        author's followers (one statement for all of this worker's logged-in
        visitors), so that their Following feed can count it."""
        while True:
            event = await self._news.get()
            if isinstance(event, events.PostDeleted):
                self._to_all(event.message())
                continue
            if isinstance(event, events.ShieldChanged):
                await self._change_shield(event)
                continue
            followers: set[int] = set()
            if self._of_user:
                try:
                    async with new_session(self.engine) as db:
                        followers = await follows.followers_among(
                            db, event.author, list(self._of_user)
                        )
                except Exception as error:  # the database is away: told, without `followed`
                    log.warning("live events: cannot read the author's followers (%s)", error)
            plain, followed = event.message(), event.message(followed=True)
            for client in list(self.clients):
                if event.author in client.shield.unlisted:
                    continue
                client.send(followed if client.user_id in followers else plain)

    async def _change_shield(self, event: events.ShieldChanged) -> None:
        """Someone blocked or muted a person, or took it back: whom their open
        sockets are not told of changes before the next post is told. The
        event says whom, as of its change (read now, it could be a later
        change's, and a post announced in between would reach them); only an
        event too long to say it is read."""
        if event.known:
            shield: safety.Shield | None = safety.Shield.of(event.blocked, event.muted)
        else:
            try:
                async with new_session(self.engine) as db:
                    shield = (await safety.shields_of(db, [event.user])).get(event.user)
            except Exception as error:  # the database is away: their next socket reads it
                log.warning("live events: cannot read whom a person blocks (%s)", error)
                return
        if shield is None:  # the account is gone, and its sockets with it
            return
        for client in self._of_user.get(event.user, ()):
            client.shield = shield

    # --- a person suspended or let back -------------------------------------------

    async def _tell_author(self, event: events.AuthorChanged) -> None:
        """A suspension takes away everything of the person's at once: their
        newest posts (and any watched) are `post.deleted` to every socket, their
        comments on the posts watched `comment.removed` to those watching, who
        may see them; lifting it brings their comments back (`comment.created`:
        the page fetches each as it now shows). The counts of the posts
        concerned are read again."""
        watched = list(self._watchers)
        try:
            async with new_session(self.engine) as db:
                shown = await suspensions.shown_of(db, event.user, watched)
        except Exception as error:  # the database is away: the pages show it at their next load
            log.warning("live events: cannot read a suspended person's content (%s)", error)
            return
        if event.removed and shown.posts:
            gone = tuple(events.deleted_message(post_id) for post_id in shown.posts)
            for client in list(self.clients):
                client.send(gone)
        by_client: defaultdict[Client, list[str]] = defaultdict(list)
        for comment_id, post_id, owner, published in shown.comments:
            message = events.comment_message(post_id, comment_id, removed=event.removed)
            for client in self._watchers.get(post_id, ()):
                if published or client.user_id == owner:
                    by_client[client].append(message)
        for client, messages in by_client.items():
            client.send(tuple(messages))
        self._stale.update(post_id for _id, post_id, _owner, _published in shown.comments)
        self._stale.update(post_id for post_id in shown.posts if post_id in self._watchers)
        if self._stale:
            self._flush_soon()

    # --- coalescing -----------------------------------------------------------

    def _flush_soon(self) -> None:
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        await asyncio.sleep(WINDOW)
        changed, self._changed = self._changed, {}
        unread, self._unread = self._unread, set()
        stale, self._stale = self._stale, set()
        if changed and await self._counts_need_reading(changed):
            changed = await self._read_counts(changed)
        for event in changed.values():
            self._send_counts(event)
        if not (unread or stale):
            return
        try:
            async with new_session(self.engine) as db:
                counts = await posts.visible_counts(db, sorted(stale), None)
                unread_counts = await notifications.unread_counts(db, sorted(unread))
        except Exception as error:  # the database is away: the source resyncs
            log.warning("live events: cannot read the current counts (%s)", error)
            return
        for post_id, (votes, comments) in counts.items():
            message = events.counts_message(post_id, votes, comments)
            for client in list(self._watchers.get(post_id, ())):
                client.send(message)
        for user_id, count in unread_counts.items():
            message = events.unread_message(count)
            for client in list(self._of_user.get(user_id, ())):
                client.send(message)

    async def _counts_need_reading(self, changed: dict[int, events.PostChanged]) -> bool:
        """Whether the counts of these events must be read (someone is
        suspended), for those watched; asked of the database at most every
        SUSPENSIONS_CHECKED_FOR seconds."""
        if not any(post_id in self._watchers for post_id in changed):
            return False
        if time.monotonic() >= self._suspensions_checked_until:
            try:
                async with new_session(self.engine) as db:
                    self._anyone_suspended = await suspensions.anyone_suspended(db)
            except Exception as error:  # the database is away: the events' counts will do
                log.warning("live events: cannot read the suspensions (%s)", error)
                return False
            self._suspensions_checked_until = time.monotonic() + SUSPENSIONS_CHECKED_FOR
        return self._anyone_suspended

    async def _read_counts(
        self, changed: dict[int, events.PostChanged]
    ) -> dict[int, events.PostChanged]:
        watched = [post_id for post_id in changed if post_id in self._watchers]
        try:
            async with new_session(self.engine) as db:
                counts = await posts.counts_of(db, watched)
        except Exception as error:  # the database is away: the events' counts will do
            log.warning("live events: cannot read the current counts (%s)", error)
            return changed
        return {
            post_id: events.PostChanged(post_id, *counts[post_id], event.owner, event.published)
            for post_id, event in changed.items()
            if post_id in counts
        }

    def _send_counts(self, event: events.PostChanged) -> None:
        watchers = self._watchers.get(event.id)
        if not watchers:
            return
        message = event.message()
        for client in list(watchers):
            if event.published or client.user_id == event.owner:
                client.send(message)

    def _send_comment(self, event: events.CommentEvent) -> None:
        """A comment written or removed goes at once to the sockets watching its
        post that may see it (a draft's: its owner's alone)."""
        watchers = self._watchers.get(event.post)
        if not watchers:
            return
        message = event.message()
        for client in list(watchers):
            if event.published or client.user_id == event.owner:
                client.send(message)


def _discard(index: defaultdict[int, set[Client]], key: int | None, client: Client) -> None:
    if key is None:
        return
    members = index.get(key)
    if members is not None:
        members.discard(client)
        if not members:
            del index[key]
