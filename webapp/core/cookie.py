"""What the signed session cookie may hold. It is signed, not encrypted, and a
copy of it cannot be revoked: so it carries a random session key (the truth
is on the server), one-time messages, an anonymous visitor's CSRF token, and
when this browser last sent a form (so that its next pages are built from
what is current: `webapp.core.page_cache`)."""

SESSION_COOKIE = "agora_session"
SESSION_KEY = "sid"
FLASH_KEY = "flash"
ANONYMOUS_CSRF_KEY = "csrf"
WROTE_KEY = "wrote"
