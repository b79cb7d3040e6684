"""A page of a counted list (comments, people, notifications), and what the
pager macro may link to. The feeds of posts do not count their matches: they
look ahead instead (`webapp.rules.posts.PostPage`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class CountedPage(Generic[T]):
    items: list[T]
    page: int
    per_page: int
    total: int
    more = False  # pages beyond last_page: none, the list is counted

    @property
    def last_page(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def past_end(self) -> bool:
        return not self.items and self.page > 1
