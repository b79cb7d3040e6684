"""How many of each list one page holds: one number for each kind of list,
which the pages and the API's default `limit` both use."""

from __future__ import annotations

POSTS = 20  # the feed and its searches, the Following feed, a profile's posts
COMMENTS = 50  # a post's comments, oldest first
PEOPLE = 50  # a person's followers, and the people they follow
NOTIFICATIONS = 20  # one's notifications, newest first
# The API's post lists (`/api/posts`, `/api/feed`) answer fewer by default: a
# client asks for the `limit` it wants, up to 100.
API_POSTS = 10
API_MOST = 100  # the `limit` of any of the API's lists, at most
# People found by name (`/api/users?search=`); /search shows 5 above its posts.
API_PEOPLE_FOUND = 20
PEOPLE_FOUND = 5
