/* Likes in place: a like form on a card (or a post's page) is sent without
 * leaving the page. The server answers JSON when asked for it (the form
 * without a script gets a 303 back to the same page); the button's state,
 * `aria-pressed` and the count follow the answer. A failure says so beside
 * the button, and the form is left as it was.
 */
(() => {
  'use strict';

  // As the server's `counted` filter writes it: "1 like", "3 likes".
  const counted = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

  function show(form, liked, votes) {
    const button = form.querySelector('button.like');
    const dir = form.querySelector('input[name="dir"]');
    const card = form.closest('[data-post-id]');
    dir.value = liked ? '0' : '1';
    button.setAttribute('aria-pressed', liked ? 'true' : 'false');
    const label = button.querySelector('.visually-hidden');
    button.textContent = liked ? '♥ Liked' : '♡ Like';
    if (label) button.append(label);
    if (card) card.toggleAttribute('data-liked', liked);
    for (const count of form.querySelectorAll('.likes')) {
      count.textContent = counted(votes, 'like') + (liked && votes > 0 ? ' (including you)' : '');
    }
  }

  function fail(form, text) {
    let note = form.querySelector('.like-error');
    if (!note) {
      note = document.createElement('span');
      note.className = 'like-error';
      note.setAttribute('role', 'alert');
      form.append(note);
    }
    note.textContent = text;
  }

  document.addEventListener('submit', async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains('card-like')) return;
    event.preventDefault();
    const button = form.querySelector('button.like');
    const old = form.querySelector('.like-error');
    if (old) old.remove();
    button.disabled = true;
    try {
      const response = await fetch(form.action, {
        method: 'POST',
        body: new URLSearchParams(new FormData(form)),
        headers: { Accept: 'application/json' },
        credentials: 'same-origin',
      });
      if (!response.ok) {
        fail(form, response.status === 404 ? 'This post is gone.' : 'Your like was not saved. Please try again.');
        return;
      }
      const answer = await response.json();
      show(form, answer.liked, answer.votes);
    } catch {
      fail(form, 'Your like was not saved: the site could not be reached.');
    } finally {
      button.disabled = false;
    }
  });
})();
