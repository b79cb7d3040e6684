"""What the signed session cookie may hold. It is signed, not encrypted, and a
copy of it cannot be revoked: so it carries a random session key (the truth
is on the server), one-time messages, and an anonymous visitor's CSRF token."""

SESSION_COOKIE = "agora_session"
SESSION_KEY = "sid"
FLASH_KEY = "flash"
ANONYMOUS_CSRF_KEY = "csrf"
