/* Agora's live updates: the page listens on the site's WebSocket (/ws) and
 * changes itself in place (the README's "Live updates" lists the messages).
 *
 * - Post counts: every element with `data-post-id` is a post shown; its `.likes`
 *   and `.comment-count` follow the post's counts (`data-liked` on it: the visitor
 *   likes it, which the count says), and so does the heading of the comments
 *   section with `data-comments-of`.
 * - New posts: on a feed, the `.new-posts` slot (`data-feed` "home" or
 *   "following") shows "N new posts", a link to the feed's first page.
 * - The header's Notifications link: its unread count.
 * - Comments: on a post's page (the section with `data-comments-of`), a new
 *   comment is fetched as the page would show it (/comments/{id}/fragment) and
 *   put in its thread: a reply after the replies already under its parent, a
 *   new top-level comment at the end of the last page. A deleted or hidden one
 *   is fetched again: a placeholder ("[deleted]") takes its place, or it goes;
 *   one restored replaces its placeholder.
 *
 * Without this script every page works as before; with it, nothing moves under
 * the reader (the slot for "N new posts" is there from the start).
 */
(function () {
  'use strict';

  // Reconnecting: a random wait up to `delay` ("full jitter"), the delay doubling
  // from 1 s to 30 s at most, and back to 1 s after a connection that lasted.
  const FIRST_DELAY = 1000;
  const LONGEST_DELAY = 30000;
  const LASTED = 10000;
  const MOST_SUBSCRIBED = 100; // the server keeps no more

  const feedSlot = document.querySelector('.new-posts[data-feed]');
  const feedLink = feedSlot && feedSlot.querySelector('a');
  const status = document.getElementById('live-status');

  const shownIds = new Set(
    Array.from(document.querySelectorAll('[data-post-id]'), (element) => Number(element.dataset.postId))
      .filter(isId)
  );
  const newIds = new Set();
  let announced = false;

  let socket = null;
  let delay = FIRST_DELAY;
  let openedAt = 0;
  let retry = 0;

  function isId(value) {
    return Number.isSafeInteger(value) && value > 0;
  }

  function isCount(value) {
    return Number.isSafeInteger(value) && value >= 0;
  }

  // As the server's `counted` filter writes it: "1 like", "3 likes".
  function counted(count, noun) {
    return count + ' ' + noun + (count === 1 ? '' : 's');
  }

  // --- what the server tells -------------------------------------------------

  function postChanged(message) {
    if (!isId(message.id) || !isCount(message.votes) || !isCount(message.comments)) return;
    for (const post of document.querySelectorAll('[data-post-id="' + message.id + '"]')) {
      const yours = post.hasAttribute('data-liked') && message.votes > 0;
      for (const likes of post.querySelectorAll('.likes')) {
        likes.textContent = counted(message.votes, 'like') + (yours ? ' (including you)' : '');
      }
      for (const comments of post.querySelectorAll('.comment-count')) {
        comments.textContent = counted(message.comments, 'comment');
      }
    }
    for (const section of document.querySelectorAll('[data-comments-of="' + message.id + '"]')) {
      const heading = section.querySelector('h2');
      if (heading) heading.textContent = counted(message.comments, 'comment');
    }
  }

  function postCreated(message) {
    if (!feedLink || !isId(message.id) || shownIds.has(message.id)) return;
    // The server says `followed` to the sockets of the author's followers.
    if (feedSlot.dataset.feed === 'following' && message.followed !== true) return;
    newIds.add(message.id);
    showNewPosts();
  }

  function postDeleted(message) {
    // A new post gone before the reader came to see it is no longer news.
    if (newIds.delete(message.id)) showNewPosts();
  }

  function showNewPosts() {
    const count = newIds.size;
    feedLink.textContent = count === 1 ? '1 new post' : count + ' new posts';
    feedLink.hidden = count === 0;
    // Said once: a screen reader repeating every new count would be a nuisance.
    if (count > 0 && !announced && status) {
      announced = true;
      status.textContent = 'New posts are available.';
    }
  }

  // The header's link, as base.html writes it: ", 3 unread" for screen readers,
  // a "3" badge for the eyes; "more than 99" and "99+" past 99; nothing at 0.
  function showUnread(message) {
    const link = document.querySelector('.notifications-link');
    if (!link || !isCount(message.unread)) return;
    const unread = message.unread;
    let spoken = link.querySelector('.visually-hidden');
    let badge = link.querySelector('.unread-count');
    if (unread === 0) {
      if (spoken) spoken.remove();
      if (badge) badge.remove();
      return;
    }
    if (!spoken) {
      spoken = document.createElement('span');
      spoken.className = 'visually-hidden';
      link.append(spoken);
    }
    if (!badge) {
      badge = document.createElement('span');
      badge.className = 'unread-count';
      badge.setAttribute('aria-hidden', 'true');
      link.append(badge);
    }
    spoken.textContent = ', ' + (unread > 99 ? 'more than 99' : unread) + ' unread';
    badge.textContent = unread > 99 ? '99+' : String(unread);
  }

  // --- comments ------------------------------------------------------------------

  const thread = document.querySelector('[data-comments-of]');
  const threadPost = thread ? Number(thread.dataset.commentsOf) : 0;

  function commentOf(id) {
    return document.getElementById('comment-' + id);
  }

  // The comment as the server renders it for this visitor, or null when there
  // is none to show (gone, or never visible to them).
  async function fetchComment(id) {
    try {
      const response = await fetch('/comments/' + id + '/fragment', {
        credentials: 'same-origin',
        headers: { Accept: 'text/html' },
      });
      if (response.status === 404) return null;
      if (!response.ok) return undefined; // try nothing now: the next page load shows it
      const holder = document.createElement('template');
      holder.innerHTML = (await response.text()).trim();
      const item = holder.content.firstElementChild;
      return item && item.matches('li.comment') ? item : undefined;
    } catch {
      return undefined;
    }
  }

  function depthOf(item) {
    const inner = item.querySelector('.thread-item');
    return inner ? Number(inner.dataset.depth) : 1;
  }

  // Where a new comment goes: after its parent and the replies already under it;
  // a top-level one at the end, when this is the last page of comments.
  function placeComment(list, item) {
    const inner = item.querySelector('.thread-item');
    const parentId = inner && inner.dataset.parentId;
    if (!parentId) {
      if (thread.dataset.page !== thread.dataset.lastPage) return false;
      list.append(item);
      return true;
    }
    const parent = commentOf(parentId);
    if (!parent || parent.parentElement !== list) return false;
    const parentDepth = depthOf(parent);
    let last = parent;
    while (last.nextElementSibling && depthOf(last.nextElementSibling) > parentDepth) {
      last = last.nextElementSibling;
    }
    last.after(item);
    return true;
  }

  async function commentCreated(message) {
    if (!thread || message.post_id !== threadPost || !isId(message.id)) return;
    // One shown again (restored by moderators) replaces its placeholder.
    if (commentOf(message.id)) return commentRemoved(message);
    const item = await fetchComment(message.id);
    if (!item || commentOf(message.id)) return;
    const list = thread.querySelector('.comment-list');
    if (!list || !placeComment(list, item)) return;
    list.hidden = false;
    const empty = thread.querySelector('.no-comments');
    if (empty) empty.remove();
    if (status) status.textContent = 'A new comment.';
  }

  async function commentRemoved(message) {
    if (!thread || message.post_id !== threadPost || !isId(message.id)) return;
    if (!commentOf(message.id)) return;
    const item = await fetchComment(message.id);
    const shown = commentOf(message.id);
    if (!shown || item === undefined) return;
    if (item === null) {
      shown.remove();
    } else {
      shown.replaceWith(item);
    }
  }

  const handlers = {
    'comment.created': commentCreated,
    'comment.removed': commentRemoved,
    'post.changed': postChanged,
    'post.created': postCreated,
    'post.deleted': postDeleted,
    notifications: showUnread,
  };

  function received(event) {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    const handle = message && handlers[message.type];
    if (handle) handle(message);
  }

  // --- the connection ----------------------------------------------------------

  function connect() {
    retry = 0;
    openedAt = 0;
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    socket = new WebSocket(scheme + '//' + location.host + '/ws');
    socket.addEventListener('open', subscribe);
    socket.addEventListener('message', received);
    socket.addEventListener('close', closed);
  }

  function subscribe(event) {
    openedAt = Date.now();
    const posts = Array.from(shownIds).slice(0, MOST_SUBSCRIBED);
    if (posts.length > 0) event.target.send(JSON.stringify({ type: 'subscribe', posts: posts }));
  }

  function closed(event) {
    if (event.target !== socket) return; // one closed on purpose (pagehide)
    socket = null;
    if (openedAt && Date.now() - openedAt >= LASTED) delay = FIRST_DELAY;
    reconnectLater();
  }

  function reconnectLater() {
    // A hidden tab waits until it is looked at again (visibilitychange).
    if (retry || socket || document.hidden) return;
    retry = setTimeout(connect, Math.random() * delay);
    delay = Math.min(delay * 2, LONGEST_DELAY);
  }

  document.addEventListener('visibilitychange', reconnectLater);

  // A page with an open socket cannot be kept for the Back button: close it when
  // leaving, and open a new one (which sends the counts as they are) on return.
  window.addEventListener('pagehide', () => {
    clearTimeout(retry);
    retry = 0;
    if (socket) {
      const leaving = socket;
      socket = null;
      leaving.close(1000);
    }
  });
  window.addEventListener('pageshow', (event) => {
    if (event.persisted) reconnectLater();
  });

  connect();
})();
