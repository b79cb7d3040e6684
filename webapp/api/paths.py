"""The ids in the API's paths, one type each, for every router that takes one.

Ids too large for the database are 404s, not 422s: the path takes any integer."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

UserId = Annotated[int, Path(openapi_examples={"a user": {"value": 1}})]
PostId = Annotated[int, Path(openapi_examples={"a post": {"value": 1}})]
CommentId = Annotated[int, Path(openapi_examples={"a comment": {"value": 1}})]
