"""Helpers the tests share: the app under test, acting on pages, calling the
API, driving the browser, counting statements. Fixtures stay in conftest.py."""
