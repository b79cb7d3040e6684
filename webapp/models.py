"""The SQLModel families: each entity's fields and limits are written once.

`XBase` holds the fields a person may send, with their limits; `X(table=True)`
adds what the server owns and the database constraints; `XCreate`, `XUpdate`
and `XPublic` are what comes in and what goes out. Table classes do not
validate on `__init__`, so input always goes through a non-table schema.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    ConfigDict,
    EmailStr,
    StrictInt,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    computed_field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Index,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
    text,
)
from sqlmodel import Field, SQLModel

from webapp.core.media_paths import avatar_url

USERNAME_MIN, USERNAME_MAX = 3, 30
USERNAME_RE = re.compile(rf"[A-Za-z0-9_]{{{USERNAME_MIN},{USERNAME_MAX}}}")
MAX_ID = 2**31 - 1  # ids are 32-bit integers in every database we support
PASSWORD_MIN, PASSWORD_MAX = 8, 128
TITLE_MAX, CONTENT_MAX = 200, 20_000
COMMENT_MAX = 2_000
DISPLAY_NAME_MAX, BIO_MAX, WEBSITE_MAX = 50, 500, 300
ALT_MAX, PICTURES_MAX = 500, 4
TAG_MAX = 50
CONTENT_WHITESPACE = "\t\n\r"
# SQLite gives a new row the largest id plus one, so a deleted newest row's id
# would go to the next one (a session's socket closed by its predecessor's end,
# a link to a deleted post opening another): AUTOINCREMENT never reuses one.
NEVER_REUSED_IDS = {"sqlite_autoincrement": True}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    SQLite keeps no zone and returns naive values; PostgreSQL returns aware ones.
    Normalizing here keeps comparisons (expiry, throttling windows) the same on both.
    """

    impl = DateTime(timezone=True)
    cache_ok = True
    # PostgreSQL returns every `timestamptz` aware, so on its rows the result
    # processor changes nothing: `webapp.core.db.DriverStatement` skips it there
    # (a page of posts is eighty calls of it).
    aware_from_postgresql = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
            if getattr(dialect, "name", "") == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def reject_control_characters(value: str, allowed: str = "") -> str:
    """Refuse NUL and other control characters, and lone surrogates from JSON."""
    if value.isprintable():  # none of either (nor any other unprintable character)
        return value
    # The same of the text without the characters allowed (a post's line
    # breaks): a few passes in C, where the loop below looks up the category
    # of every character (450 µs for a post of forty lines).
    rest = value
    for char in allowed:
        rest = rest.replace(char, "")
    if rest.isprintable():
        return value
    for char in value:
        if char in allowed:
            continue
        if unicodedata.category(char) in ("Cc", "Cs"):
            raise ValueError("must not contain control characters")
    return value


# --- users -----------------------------------------------------------------


def normalize_username(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


NOT_AN_EMAIL = "Must be an email address, like name@example.com."


def _in_our_words(value: object, check: ValidatorFunctionWrapHandler) -> object:
    """The address checked as `EmailStr` checks it, a refusal said in our
    words rather than the library's (its reasons name its own rules)."""
    try:
        return check(value)
    except ValidationError as error:
        if any(problem["type"] == "value_error" for problem in error.errors()):
            raise PydanticCustomError("value_error", NOT_AN_EMAIL) from None
        raise


# An address as EmailStr takes it, and in the JSON schema, with our refusal.
Email = Annotated[EmailStr, WrapValidator(_in_our_words)]


class UserBase(SQLModel):
    username: str = Field(min_length=USERNAME_MIN, max_length=USERNAME_MAX)
    email: Email = Field(max_length=254)

    @field_validator("username", mode="before")
    @classmethod
    def _username(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        value = normalize_username(value)
        if not USERNAME_RE.fullmatch(value):
            raise ValueError(
                f"must be {USERNAME_MIN}–{USERNAME_MAX} letters, digits or underscores"
            )
        return value

    @field_validator("email", mode="before")
    @classmethod
    def _email(cls, value: object) -> object:
        return clean_email(value)


def clean_email(value: object) -> object:
    """An address as typed, before the checks of `EmailStr`: NFKC, trimmed, and
    no control characters."""
    if isinstance(value, str):
        return reject_control_characters(unicodedata.normalize("NFKC", value).strip())
    return value


class EmailAddress(SQLModel):
    """An address typed into a form: where to send a password reset, or an
    account's new address; the same rules as at registration."""

    email: Email = Field(max_length=254)

    @field_validator("email", mode="before")
    @classmethod
    def _email(cls, value: object) -> object:
        return clean_email(value)


class UserCreate(UserBase):
    password: str = Field(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)

    @field_validator("password")
    @classmethod
    def _password_characters(cls, value: str) -> str:
        return reject_control_characters(value)  # reported on the field itself

    @model_validator(mode="after")
    def _password(self) -> UserCreate:
        check_new_password(self.password, self.username, str(self.email))
        return self


def check_new_password(password: str, username: str, email: str) -> None:
    """The rules of a new password beyond its length (PASSWORD_MIN to
    PASSWORD_MAX): no control characters, not the username or the email."""
    reject_control_characters(password)
    if password.casefold() in (username.casefold(), email.casefold()):
        raise ValueError("password must not be the same as the username or email")


class PasswordChange(SQLModel):
    """A new password for an account, typed twice, under the same rules as at
    registration. Validate it with `context={"username": ..., "email": ...}`:
    the account's, which the password must not repeat."""

    current_password: str = ""
    new_password: str = Field(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)
    new_password_confirm: str = ""

    @field_validator("new_password")
    @classmethod
    def _new_password(cls, value: str, info: ValidationInfo) -> str:
        identity = info.context or {}
        check_new_password(value, identity.get("username", ""), identity.get("email", ""))
        return value

    @field_validator("new_password_confirm")
    @classmethod
    def _confirmed(cls, value: str, info: ValidationInfo) -> str:
        # Checked only when the new password itself passed (then it is in data).
        if "new_password" in info.data and value != info.data["new_password"]:
            raise ValueError("the two passwords do not match")
        return value


class User(UserBase, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254)
    password_hash: str = Field(max_length=255)
    # Rotated when the password changes or the user logs out everywhere else:
    # API tokens carry it, so changing it revokes them all.
    security_stamp: str = Field(default_factory=lambda: secrets.token_hex(16), max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # member, moderator or admin (`webapp.rules.roles`)
    role: str = Field(
        default="member", max_length=10, sa_column_kwargs={"server_default": "member"}
    )
    # Suspended while this is in the future (`webapp.rules.suspensions`); a
    # suspension until lifted ends far in the future. None: never, or lifted.
    suspended_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    suspension_reason: str | None = Field(default=None, max_length=500)
    # Whether the account opened the link mailed to its address
    # (`webapp.rules.confirmations`); an address changed by its link is confirmed.
    email_confirmed: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    # The profile (`webapp.rules.profiles`): the bio as typed and as rendered
    # when it was written; the avatar's stored name ("" for the generated one).
    display_name: str = Field(
        default="", max_length=DISPLAY_NAME_MAX, sa_column_kwargs={"server_default": ""}
    )
    bio: str = Field(default="", sa_type=Text, sa_column_kwargs={"server_default": ""})
    bio_html: str = Field(default="", sa_type=Text, sa_column_kwargs={"server_default": ""})
    website: str = Field(
        default="", max_length=WEBSITE_MAX, sa_column_kwargs={"server_default": ""}
    )
    avatar: str = Field(default="", max_length=80, sa_column_kwargs={"server_default": ""})


# What every read of a person carries beside the id, name and joining date,
# in the order `person` takes them.
PROFILE_COLUMNS = ("display_name", "bio_html", "website", "avatar")


# Names and addresses are unique whatever their letter case, decided by the
# database so that two registrations racing for one name cannot both win.
USERS = User.__table__  # type: ignore[attr-defined]  # SQLModel adds __table__ when it makes the class
Index("uq_users_username_lower", func.lower(USERS.c.username), unique=True)
Index("uq_users_email_lower", func.lower(USERS.c.email), unique=True)
Index(
    "ix_users_suspended",
    USERS.c.suspended_until,
    postgresql_where=USERS.c.suspended_until.is_not(None),
    sqlite_where=USERS.c.suspended_until.is_not(None),
)


class UserPublic(SQLModel):
    id: int
    username: str
    created_at: datetime
    display_name: str = ""
    bio_html: str = Field(default="", description="The bio rendered: sanitized HTML")
    website: str = ""
    # The stored avatar's name ("" for none): the addresses below come from it.
    avatar: str = Field(default="", exclude=True)

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form
    @property
    def avatar_url(self) -> str:
        """The avatar at 256 pixels, or the generated default's address."""
        return avatar_url(self.id, self.avatar, large=True)

    @property
    def small_avatar_url(self) -> str:
        """The avatar beside a name on pages (64 pixels)."""
        return avatar_url(self.id, self.avatar, large=False)


class UserMe(UserPublic):
    email: str
    email_confirmed: bool = False


Built = TypeVar("Built", bound=SQLModel)
# Each class's field names in their order, or () for a class whose fields
# `built` cannot set alone (aliases, extra values, a post-init hook).
_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}


def _plain_field_names(cls: type[SQLModel]) -> tuple[str, ...]:
    fields = cls.__pydantic_fields__
    if (
        cls.__pydantic_post_init__
        or cls.__pydantic_root_model__
        or cls.model_config.get("extra") == "allow"
        or any(f.alias is not None or f.validation_alias is not None for f in fields.values())
    ):
        return ()
    return tuple(fields)


def built(cls: type[Built], **values: Any) -> Built:
    """What `cls.model_construct(**values)` makes (a model of rows read from
    our own tables, checked on the way in), when `values` name every field:
    then there is no default to fill nor alias to look up, and pydantic's loop
    over the fields (a dozen calls for each of them) was a tenth of the calls
    of a profile's page, which makes forty models. Otherwise, `model_construct`
    itself."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = _plain_field_names(cls)
    if len(values) != len(names):
        return cls.model_construct(**values)
    # In the fields' order, as model_construct keeps them (and JSON shows them):
    # the callers that make many (`webapp.rules.posts.as_public`, `person`)
    # name them in that order, and their own dict is then the model's.
    if tuple(values) != names:
        try:
            values = {name: values[name] for name in names}
        except KeyError:
            return cls.model_construct(**values)
    model = object.__new__(cls)
    object.__setattr__(model, "__dict__", values)
    object.__setattr__(model, "__pydantic_fields_set__", set(names))
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


def person(
    user_id: int,
    username: str,
    created_at: datetime,
    display_name: str | None = "",
    bio_html: str | None = "",
    website: str | None = "",
    avatar: str | None = "",
) -> UserPublic:
    """A person read from our own rows (checked on the way in): constructed,
    not validated again. The profile columns in the order of `PROFILE`."""
    return built(
        UserPublic,
        id=user_id,
        username=username,
        created_at=created_at,
        display_name=display_name or "",
        bio_html=bio_html or "",
        website=website or "",
        avatar=avatar or "",
    )


def check_display_name(value: str) -> str:
    """Empty clears it; otherwise a title's rules, without the spaces around it."""
    value = value.strip()
    return check_title(value) if value else value


def check_website(value: str) -> str:
    """An http(s) address with a host, or empty."""
    from urllib.parse import urlsplit

    value = value.strip()
    if not value:
        return value
    reject_control_characters(value)
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or " " in value:
        raise ValueError("must be an address starting with http:// or https://")
    return value


class ProfileUpdate(SQLModel):
    """PATCH /api/users/me and the profile form: any of the fields."""

    display_name: str | None = Field(default=None, max_length=DISPLAY_NAME_MAX)
    bio: str | None = Field(default=None, max_length=BIO_MAX)
    website: str | None = Field(default=None, max_length=WEBSITE_MAX)

    @field_validator("display_name")
    @classmethod
    def _display_name(cls, value: str | None) -> str | None:
        return None if value is None else check_display_name(value)

    @field_validator("bio", mode="before")
    @classmethod
    def _bio(cls, value: object) -> object:
        return normalize_content(value) if isinstance(value, str) else value

    @field_validator("website")
    @classmethod
    def _website(cls, value: str | None) -> str | None:
        return None if value is None else check_website(value)


# --- posts -----------------------------------------------------------------


class PostRules(SQLModel):
    """The checks of a post's fields, for the schemas that create and update one."""

    @field_validator("title", check_fields=False)
    @classmethod
    def _title(cls, value: str | None) -> str | None:
        return None if value is None else check_title(value)

    @field_validator("content", mode="before", check_fields=False)
    @classmethod
    def _content(cls, value: object) -> object:
        return normalize_content(value) if isinstance(value, str) else value

    @field_validator("published", mode="before", check_fields=False)
    @classmethod
    def _published(cls, value: object) -> object:
        return check_flag(value)


class PostFields(SQLModel):
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    content: str = Field(min_length=1, max_length=CONTENT_MAX)
    published: bool = True


class PostBase(PostRules, PostFields):
    """The fields with the checks of what a person sends."""


def check_flag(value: object) -> object:
    """true or false, not something that could be read as one ("yes", 0)."""
    if value is not None and not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


# What draws nothing, so that a title made only of it looks empty: separators
# (Z*: spaces, line and paragraph separators), controls and format characters
# (Cc, Cf: U+200B ZERO WIDTH SPACE, U+2060 WORD JOINER, U+FEFF, the soft hyphen,
# tag characters), surrogates, private-use and unassigned code points (Cs, Co,
# Cn: no font we can count on draws them), and combining marks (Mn, Me), which
# show only on a character before them. Unicode files a few blank characters
# as letters or symbols; fonts draw them as nothing, so they are named here.
INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn", "Mn", "Me"})
BLANK_CHARACTERS = frozenset(
    "\u115f\u1160"  # HANGUL CHOSEONG FILLER, HANGUL JUNGSEONG FILLER
    "\u3164\uffa0"  # HANGUL FILLER, HALFWIDTH HANGUL FILLER
    "\u2800"  # BRAILLE PATTERN BLANK
)


def is_visible(char: str) -> bool:
    return char not in BLANK_CHARACTERS and unicodedata.category(char) not in INVISIBLE_CATEGORIES


def check_title(value: str) -> str:
    # Of the printable ASCII characters, the space alone draws nothing: such a
    # title (most of them) holding anything else is visible, as the loop below
    # would find, character by character.
    if value.isascii() and value.isprintable() and value.strip(" "):
        return value
    reject_control_characters(value)
    # A title of zero-width or filler characters is as empty as one of spaces.
    if not any(is_visible(char) for char in value):
        raise ValueError("must not be only spaces")
    return value


def normalize_content(value: str) -> str:
    # Browsers send line breaks as CRLF; count and keep them as one character.
    return reject_control_characters(value.replace("\r\n", "\n"), CONTENT_WHITESPACE)


MediaIds = list[Annotated[StrictInt, Field(ge=1, le=MAX_ID)]]


class PostCreate(PostBase):
    media_ids: MediaIds | None = Field(
        default=None,
        max_length=PICTURES_MAX,
        description="Pictures uploaded with POST /api/media, in the order shown",
    )


class PostUpdate(PostRules):
    title: str | None = Field(default=None, min_length=1, max_length=TITLE_MAX)
    content: str | None = Field(default=None, min_length=1, max_length=CONTENT_MAX)
    published: bool | None = None
    media_ids: MediaIds | None = Field(
        default=None,
        max_length=PICTURES_MAX,
        description="The post's pictures, in the order shown; left out: unchanged",
    )


class Post(PostBase, table=True):
    __tablename__ = "posts"
    __table_args__ = (
        # The feed: published posts, newest first, ties broken by id.
        Index("ix_posts_feed", "published", "created_at", "id"),
        # The posts every list may show (published, not hidden), in feed order
        # with their author, whose suspension the lists still check: a deep
        # page walks index entries alone, never the rows it skips.
        Index(
            "ix_posts_listed",
            "created_at",
            "id",
            "owner_id",
            postgresql_where=text("published IS TRUE AND hidden IS NULL"),
            sqlite_where=text("published IS 1 AND hidden IS NULL"),
        ),
        # The same by author: a profile's count of posts from the index alone.
        Index(
            "ix_posts_listed_by_owner",
            "owner_id",
            "created_at",
            "id",
            postgresql_where=text("published IS TRUE AND hidden IS NULL"),
            sqlite_where=text("published IS 1 AND hidden IS NULL"),
        ),
        # A profile: one author's posts, newest first. With `published` last, the
        # Following feed reads each followed person's newest published posts from
        # the index alone, and the profile still pages in this order (a
        # (owner_id, published, ...) index would sort all of an author's posts
        # for a viewer who may see drafts).
        Index("ix_posts_owner_newest", "owner_id", "created_at", "id", "published"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=TITLE_MAX)
    content: str = Field(max_length=CONTENT_MAX)
    owner_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # When a draft was first published; None for a post published as it was
    # written (then it is `created_at`): what feeds call `published`.
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The like and comment counts, kept with the post so that a page never counts
    # rows per post; each changed only in the same transaction as the row it
    # counts (`webapp.rules.likes`, `webapp.rules.comments`).
    votes: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    comments: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Hidden (`webapp.rules.moderation`): None while shown, "reports" or "moderators".
    hidden: str | None = Field(default=None, max_length=10)
    hidden_reason: str | None = Field(default=None, max_length=500)
    # Made from the title and content when they are written (`webapp.rules.markup`),
    # never when they are read: the sanitized HTML, its plain-text excerpt,
    # and the post's tags, separated by spaces (a tag holds none).
    content_html: str = Field(default="", sa_type=Text, sa_column_kwargs={"server_default": ""})
    excerpt: str = Field(default="", sa_type=Text, sa_column_kwargs={"server_default": ""})
    tags: str = Field(default="", sa_type=Text, sa_column_kwargs={"server_default": ""})
    # The post's pictures as pages show them (JSON, `webapp.rules.pictures`),
    # written with the `media` rows they copy, so that a card or a post page
    # reads them with the post.
    media: str = Field(default="", sa_type=Text, sa_column_kwargs={"server_default": ""})


class PostTag(SQLModel, table=True):
    """A tag a post carries, with the post's order and whether it is published,
    so that a tag's page walks one index in the order of `/`."""

    __tablename__ = "post_tags"
    __table_args__ = (
        Index("ix_post_tags_feed", "tag", "published", "created_at", "post_id"),
        # The popular tags: the published posts of the last days.
        Index("ix_post_tags_recent", "published", "created_at"),
    )

    post_id: int = Field(foreign_key="posts.id", ondelete="CASCADE", primary_key=True)
    tag: str = Field(max_length=TAG_MAX, primary_key=True)
    published: bool
    created_at: datetime = Field(sa_type=UTCDateTime)


class PostTally(SQLModel, table=True):
    """How many posts each person has written, ever (a post deleted since
    still counts): on PostgreSQL, an upper bound of their posts of any hour
    that `agora_new_post` reads before counting them against POSTS_PER_HOUR
    (migration 0026). Below the limit, nothing to count. `agora_new_post`
    adds its own post; a trigger adds a post written any other way, or moved
    to another owner. It only grows. SQLite leaves it empty and counts."""

    __tablename__ = "post_tallies"

    owner_id: int = Field(foreign_key="users.id", ondelete="CASCADE", primary_key=True)
    posts: int = 0


class TagCount(SQLModel):
    tag: str
    posts: int


class Media(SQLModel, table=True):
    """A picture uploaded by someone: in a post (in its order), or waiting for
    one (an API upload, deleted after a day if never attached). Its files are
    named by their content's hash (`webapp.core.media_store`)."""

    __tablename__ = "media"
    __table_args__ = (
        Index("ix_media_post", "post_id", "position"),
        Index("ix_media_owner", "owner_id"),
        Index("ix_media_file", "file"),
        Index("ix_media_thumb", "thumb"),
        Index(
            "ix_media_unattached",
            "created_at",
            postgresql_where=text("post_id IS NULL"),
            sqlite_where=text("post_id IS NULL"),
        ),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    post_id: int | None = Field(default=None, foreign_key="posts.id", ondelete="CASCADE")
    position: int = Field(default=0)
    alt: str = Field(max_length=ALT_MAX)
    file: str = Field(max_length=80)
    thumb: str = Field(max_length=80)
    width: int
    height: int
    thumb_width: int
    thumb_height: int
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MediaPublic(SQLModel):
    id: int
    url: str
    thumbnail_url: str
    alt: str
    width: int
    height: int
    # The thumbnail's size, for the cards' <img>: pages only.
    thumbnail_width: int = Field(default=0, exclude=True)
    thumbnail_height: int = Field(default=0, exclude=True)


def check_alt(value: str) -> str:
    """A picture's alt text: 1–500 characters, a title's rules."""
    value = value.strip()
    if not value:
        raise ValueError("Describe the picture (alt text) for people who cannot see it.")
    if len(value) > ALT_MAX:
        raise ValueError(f"Alt text is at most {ALT_MAX} characters.")
    return check_title(value)


class PostPublic(PostFields):
    """A post as pages and the API show it: plain values, its author included.
    Without the input checks: what goes out was checked on the way in, and
    re-checking every character of every text would cost more than the page."""

    id: int
    created_at: datetime
    updated_at: datetime
    owner_id: int
    owner: UserPublic
    votes: int
    comments: int = 0
    # Why moderators hid it (None: shown); only its author and moderators can
    # read a hidden post, and neither field leaves the server.
    hidden: str | None = Field(default=None, exclude=True)
    hidden_reason: str | None = Field(default=None, exclude=True)
    # Its author is suspended now: only moderators read it meanwhile.
    owner_suspended: bool = Field(default=False, exclude=True)
    content_html: str = Field(default="", description="The content rendered: sanitized HTML")
    tags: list[str] = Field(default_factory=list)
    # The cards' plain-text start of the content: for pages, not the API.
    excerpt: str = Field(default="", exclude=True)
    media: list[MediaPublic] = Field(default_factory=list, description="The pictures, in order")

    @property
    def edited(self) -> bool:
        return self.updated_at > self.created_at


# --- likes -------------------------------------------------------------------


class Like(SQLModel, table=True):
    """One person liking one post. The API's contract calls a like a vote: its
    route is POST /api/vote (`VoteCreate`), a post's count is `votes`, and so
    are this table and that column. Everywhere else, Agora says likes."""

    __tablename__ = "votes"

    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", primary_key=True)
    post_id: int = Field(foreign_key="posts.id", ondelete="CASCADE", primary_key=True, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- blocks and mutes -------------------------------------------------------------


class Block(SQLModel, table=True):
    """Someone the blocker never sees, and who may not reach them
    (`webapp.rules.safety`)."""

    __tablename__ = "blocks"
    __table_args__ = (
        CheckConstraint("blocker_id <> blocked_id", name="ck_blocks_not_self"),
        # Whether someone is blocked by the person they act on.
        Index("ix_blocks_blocked", "blocked_id", "blocker_id"),
    )

    blocker_id: int = Field(foreign_key="users.id", ondelete="CASCADE", primary_key=True)
    blocked_id: int = Field(foreign_key="users.id", ondelete="CASCADE", primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Mute(SQLModel, table=True):
    """Someone whose posts leave the muter's lists, and whose actions no longer
    notify them (`webapp.rules.safety`)."""

    __tablename__ = "mutes"
    __table_args__ = (CheckConstraint("muter_id <> muted_id", name="ck_mutes_not_self"),)

    muter_id: int = Field(foreign_key="users.id", ondelete="CASCADE", primary_key=True)
    muted_id: int = Field(foreign_key="users.id", ondelete="CASCADE", primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- follows ------------------------------------------------------------------


class Follow(SQLModel, table=True):
    """One person following another. The id orders follows made in the same
    instant (the later one first)."""

    __tablename__ = "follows"
    __table_args__ = (
        UniqueConstraint("follower_id", "followed_id", name="uq_follows_pair"),
        CheckConstraint("follower_id <> followed_id", name="ck_follows_not_self"),
        # Someone's followers, and the people they follow, newest follow first.
        Index("ix_follows_followed", "followed_id", "created_at", "id"),
        Index("ix_follows_follower", "follower_id", "created_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    follower_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    followed_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ProfilePublic(UserPublic):
    followers: int
    following: int
    posts: int = Field(description="Published posts")
    # Shown on moderators' and admins' profiles; not part of the API's answer.
    role: str = Field(default="member", exclude=True)


# --- comments -----------------------------------------------------------------


class CommentBase(SQLModel):
    content: str = Field(min_length=1, max_length=COMMENT_MAX)

    @field_validator("content", mode="before")
    @classmethod
    def _content(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        value = normalize_content(value)
        if value and not value.strip():  # empty: the length check says "required"
            raise ValueError("must not be only spaces")
        return value


class CommentCreate(CommentBase):
    parent_id: StrictInt | None = Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description="The comment this one answers, on the same post; none: a comment on the post",
    )

    model_config = ConfigDict(  # type: ignore[assignment]  # SQLModel's config is a wider TypedDict
        json_schema_extra={
            "examples": [{"content": "Well said."}, {"content": "I agree.", "parent_id": 1}]
        }
    )


class CommentEdit(CommentBase):
    """A comment's new text (its author's)."""


# Each level of a reply adds its id, in base 36 on this many characters (MAX_ID
# fits), to its parent's `path`; how deep a thread may go.
PATH_STEP = 6
MAX_DEPTH = 500


class Comment(CommentBase, table=True):
    __tablename__ = "comments"
    __table_args__ = (
        # A post's comments, oldest first.
        Index("ix_comments_post", "post_id", "created_at", "id"),
        # What an account deletion must count down, and the hourly limit counts.
        Index("ix_comments_author", "author_id", "created_at"),
        # A comment's replies (whether a deleted one keeps a placeholder).
        Index("ix_comments_parent", "parent_id"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    content: str = Field(max_length=COMMENT_MAX)
    post_id: int = Field(foreign_key="posts.id", ondelete="CASCADE")
    author_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Hidden by moderators or by reports, as a post is; a hidden comment is not counted.
    hidden: str | None = Field(default=None, max_length=10)
    hidden_reason: str | None = Field(default=None, max_length=500)
    # Rendered when written (`webapp.rules.markup`): the HTML and its excerpt.
    content_html: str = Field(default="", sa_type=Text, sa_column_kwargs={"server_default": ""})
    excerpt: str = Field(default="", sa_type=Text, sa_column_kwargs={"server_default": ""})
    # The comment answered (None: a comment on the post); its thread's first
    # comment (None: this one is); the ids from below that one to this one,
    # PATH_STEP characters each ("" for a top-level comment). A thread reads in
    # the order of its first comment's time, then of `path`.
    parent_id: int | None = Field(default=None, foreign_key="comments.id", ondelete="CASCADE")
    root_id: int | None = Field(default=None)
    path: str = Field(default="", sa_column_kwargs={"server_default": ""})
    edited_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Deleted while it had replies: a "[deleted]" placeholder keeps their place
    # (a comment deleted without replies is gone).
    deleted: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})


class CommentPublic(SQLModel):
    id: int
    post_id: int
    content: str
    content_html: str = Field(default="", description="The content rendered: sanitized HTML")
    created_at: datetime
    author: UserPublic | None = Field(description="None for a deleted comment")
    parent_id: int | None = Field(description="The comment this one answers")
    edited: bool
    deleted: bool = Field(description="A placeholder that keeps its replies in their place")


class ThreadComment(CommentPublic):
    """A comment where it sits in its thread, as pages show it: how deep (1: a
    comment on the post), and the name of the author of the comment it
    answers (None: none, or a deleted one). The API sends CommentPublic's
    fields alone."""

    depth: int = 1
    replying_to: str | None = None
    # A placeholder for a comment hidden by moderators (or by someone
    # suspended) that keeps its replies in place.
    removed: bool = False
    # By someone the reader blocked: shown collapsed, without its text.
    blocked: bool = False
    # Shown to its author or a moderator though hidden from everyone else:
    # why ("Hidden by moderators: reason"), for the page to say so.
    moderated: str | None = None


# --- notifications ----------------------------------------------------------------

NotificationKind = Literal["like", "comment", "follow", "reply", "mention", "moderation"]


class Notification(SQLModel, table=True):
    """Someone liked the recipient's post, commented on it, or followed them.
    It goes with whatever it points at (actor, post, comment: the database
    cascades)."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_recipient", "recipient_id", "created_at", "id"),
        # The unread count in every logged-in page's header: the unread rows only.
        Index(
            "ix_notifications_unread",
            "recipient_id",
            postgresql_where=text("NOT read"),
            sqlite_where=text("NOT read"),
        ),
        # What taking a like back or unfollowing removes (see `webapp.rules.notifications`).
        Index("ix_notifications_actor", "actor_id", "kind"),
        Index("ix_notifications_post", "post_id"),
        Index("ix_notifications_comment", "comment_id"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    recipient_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    kind: str = Field(max_length=10)
    actor_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    post_id: int | None = Field(default=None, foreign_key="posts.id", ondelete="CASCADE")
    comment_id: int | None = Field(default=None, foreign_key="comments.id", ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    read: bool = Field(default=False)
    # A moderation notification's action on the recipient's post, comment or
    # account, and the moderator's reason.
    action: str | None = Field(default=None, max_length=10)
    reason: str | None = Field(default=None, max_length=500)


class NotificationPublic(SQLModel):
    id: int
    kind: NotificationKind
    actor: UserPublic
    post_id: int | None
    comment_id: int | None
    created_at: datetime
    read: bool
    action: str | None = None
    reason: str | None = None


# --- moderation ---------------------------------------------------------------------

ReportTarget = Literal["post", "comment", "user"]
ReportReason = Literal["spam", "harassment", "illegal", "other"]
ModerationVerb = Literal["hide", "restore", "suspend", "unsuspend", "dismiss"]
NOTE_MAX, MODERATION_REASON_MAX = 1_000, 500


class ReportFields(SQLModel):
    reason: ReportReason
    note: str = Field(default="", max_length=NOTE_MAX)

    @field_validator("note", mode="before")
    @classmethod
    def _note(cls, value: object) -> object:
        return normalize_content(value) if isinstance(value, str) else value


class ReportCreate(ReportFields):
    target_type: ReportTarget
    target_id: StrictInt = Field(ge=1, le=MAX_ID)


class Report(SQLModel, table=True):
    """Someone asking moderators to look at a post, a comment or a person.
    One open report per reporter and target; acting on the target closes it."""

    __tablename__ = "reports"
    __table_args__ = (
        Index(
            "uq_reports_open",
            "reporter_id",
            "target_type",
            "target_id",
            unique=True,
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
        Index("ix_reports_target", "target_type", "target_id", "status"),
        Index("ix_reports_status", "status", "created_at", "id"),
        Index("ix_reports_reporter", "reporter_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reporter_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    target_type: str = Field(max_length=10)
    target_id: int
    reason: str = Field(max_length=20)
    note: str = Field(max_length=NOTE_MAX)
    status: str = Field(default="open", max_length=10)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ReportPublic(SQLModel):
    id: int
    target_type: ReportTarget
    target_id: int
    reason: ReportReason
    note: str
    status: Literal["open", "closed"]
    created_at: datetime


class ModerationAction(SQLModel, table=True):
    """One action of a moderator, as the public log shows it: the target's
    label (a post's title, a person's name) as it was when acted on."""

    __tablename__ = "moderation_actions"
    __table_args__ = (Index("ix_moderation_actions_newest", "created_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    moderator_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    moderator_name: str = Field(max_length=USERNAME_MAX)
    action: str = Field(max_length=10)
    target_type: str = Field(max_length=10)
    target_id: int
    target_label: str = Field(max_length=TITLE_MAX)
    reason: str = Field(max_length=MODERATION_REASON_MAX)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ModerationActionCreate(SQLModel):
    action: ModerationVerb
    target_type: ReportTarget
    target_id: StrictInt = Field(ge=1, le=MAX_ID)
    reason: str = Field(default="", max_length=MODERATION_REASON_MAX)
    days: StrictInt | None = Field(default=None, ge=1, le=3650)

    @field_validator("reason", mode="before")
    @classmethod
    def _reason(cls, value: object) -> object:
        return normalize_content(value).strip() if isinstance(value, str) else value


class ModerationActionPublic(SQLModel):
    id: int
    action: ModerationVerb
    target_type: ReportTarget
    target_id: int
    target_label: str
    reason: str
    moderator: UserPublic | None
    created_at: datetime


# --- what sessions and the throttles keep on the server -----------------------


class SuspensionEnd(SQLModel, table=True):
    """When a suspension ends by itself: the data version counts the ends
    passed (`webapp.rules.suspensions`), so that no page cache keeps a
    suspended person's posts hidden past the end. Rows are only ever added."""

    __tablename__ = "suspension_ends"

    id: int | None = Field(default=None, primary_key=True)
    ends_at: datetime = Field(sa_type=UTCDateTime, index=True)


class SiteState(SQLModel, table=True):
    """One row: `likes` moves when a post's like or comment count changes,
    `version` with every other change to the posts table and with every follow
    (triggers made by migrations 0003 and 0005 do it, whoever writes), and
    `removals` with what takes something away (0010), so each worker's page
    cache knows when what it holds may be out of date."""

    __tablename__ = "site_state"

    id: int = Field(default=1, primary_key=True)
    version: int = Field(default=0)
    likes: int = Field(default=0)
    # A page retired by a removal is never served again, not even for the page
    # cache's moment of grace.
    removals: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class MailToken(SQLModel, table=True):
    """A link sent by mail. The link holds a random token; the database only
    its hash, so a leaked table opens nothing. It works once, until it
    expires, while the account's address and security stamp are those it was
    made under (`webapp.rules.mail_links`), and goes with its account."""

    __tablename__ = "mail_tokens"
    __table_args__ = (
        Index("ix_mail_tokens_user", "user_id", "purpose", "created_at"),
        # One address change waits at a time: asking again replaces it in
        # place (INSERT … ON CONFLICT on this index), so racing requests leave
        # one link, never several.
        Index(
            "uq_mail_tokens_pending_email",
            "user_id",
            unique=True,
            postgresql_where=text("purpose = 'email' AND used_at IS NULL"),
            sqlite_where=text("purpose = 'email' AND used_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    purpose: str = Field(max_length=10)  # "reset", or "email" (a new address)
    new_email: str | None = Field(default=None, max_length=254)  # an address change's
    # The account's address and security stamp when the link was made: the
    # link dies when either changes (a new address, a new password, a reset,
    # "log out everywhere else").
    account_email: str = Field(max_length=254)
    stamp: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OutboxMail(SQLModel, table=True):
    """A mail to send, written in the transaction that asked for it, so that
    no worker's stop or crash loses it (`webapp.rules.outbox`). Any worker of
    any host sends it: it takes the row for `LEASE` seconds (`locked_until`),
    and deletes it once the mail server has taken the mail. A refusal is
    recorded here (`attempts`, `last_error`) and tried again later (`due_at`);
    after the last attempt the row stays, with `gave_up_at`, for an operator.

    `kind` "mail" holds the mail itself; "reset" only the address a password
    reset was asked for: whether an account has it is found out when it is
    due, away from the request (`webapp.rules.mail_links`)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=10)
    address: str = Field(max_length=254)
    subject: str = ""
    body: str = ""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    due_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    attempts: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = None
    gave_up_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MailRequest(SQLModel, table=True):
    """One link asked for by mail, counted against its limit: a reset per
    address asked for (whether or not an account has it, so that counting
    costs the same either way), an address change per account."""

    __tablename__ = "mail_requests"
    __table_args__ = (Index("ix_mail_requests_key", "key", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    # "reset:" and the SHA-256 of the address as typed (case-folded), or
    # "email:" and the account's id.
    key: str = Field(max_length=80)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class UserSession(SQLModel, table=True):
    """A browser login. The cookie holds only a random id; its hash is the key."""

    __tablename__ = "sessions"
    __table_args__ = (NEVER_REUSED_IDS,)

    id: int | None = Field(default=None, primary_key=True)
    key_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    user_agent: str = Field(default="", max_length=300)
    ip_address: str = Field(default="", max_length=45)


class LoginFailure(SQLModel, table=True):
    """One failed login, counted per account and per client address."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_account", "account_key", "created_at"),
        Index("ix_login_failures_client", "client_ip", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_key: str = Field(sa_type=String(320))
    client_ip: str = Field(max_length=45)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Registration(SQLModel, table=True):
    """One account created, counted per client address against
    REGISTRATIONS_PER_HOUR (`webapp.rules.registrations`)."""

    __tablename__ = "registrations"
    __table_args__ = (Index("ix_registrations_client", "client_ip", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    client_ip: str = Field(max_length=45)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- what only the JSON API sends and receives ----------------------------------


def _forbid_null_in_schema(schema: dict[str, Any]) -> None:
    """Document PostPatch's fields as optional but never null."""
    for prop in schema.get("properties", {}).values():
        branches = [b for b in prop.pop("anyOf", []) if b.get("type") != "null"]
        if branches:
            prop.update(branches[0])
        prop.pop("default", None)


class PostPatch(PostUpdate):
    """PATCH /api/posts/{id}: any of the fields, each left out or given a value.

    An explicit null is refused (422) rather than read as "no change", so that a
    client that means to clear a field learns that it cannot.
    """

    model_config = ConfigDict(json_schema_extra=_forbid_null_in_schema)  # type: ignore[assignment]  # SQLModel's config is a wider TypedDict

    @field_validator("title", "content", "published", "media_ids", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be left out, but not null")
        return value


class VoteCreate(SQLModel):
    """A like (dir 1) or taking it back (dir 0). Strict: `true` or "1" is not 1."""

    post_id: StrictInt = Field(ge=1, le=MAX_ID)
    dir: StrictInt = Field(ge=0, le=1, description="1 likes the post, 0 takes the like back")

    model_config = ConfigDict(  # type: ignore[assignment]  # SQLModel's config is a wider TypedDict
        json_schema_extra={"examples": [{"post_id": 1, "dir": 1}, {"post_id": 1, "dir": 0}]}
    )


class Token(SQLModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a scheme name, not a secret)


class Message(SQLModel):
    message: str


class ErrorDetail(SQLModel):
    """Every /api error but a request validation error (whose detail is a list)."""

    detail: str
