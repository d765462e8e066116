from __future__ import annotations

import datetime as dt

import time_machine

from tests.conftest import PASSWORD


def test_it_ends_a_session_after_inactivity(client, carol, settings):
    start = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False) as clock:
        client.post("/accounts/login/", {"username": "carol", "password": PASSWORD})
        assert client.get("/").status_code == 200
        clock.shift(dt.timedelta(seconds=settings.SESSION_COOKIE_AGE - 60))
        assert client.get("/").status_code == 200  # activity renews the session
        clock.shift(dt.timedelta(seconds=settings.SESSION_COOKIE_AGE - 60))
        assert client.get("/").status_code == 200
        clock.shift(dt.timedelta(seconds=settings.SESSION_COOKIE_AGE + 60))
        response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
