"""Query strings anyone can type: a NUL character or a date at the end of the calendar is a
400 that says what was wrong, never a 500."""

from __future__ import annotations

import pytest

PAGES = ["/", "/latency/", "/cost/", "/safety/", "/evals/"]


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("param", ["tenant", "route", "prompt"])
def test_it_refuses_a_nul_character_in_a_filter(client, alice, path, param):
    client.force_login(alice)
    response = client.get(path, {param: "acme\x00"})
    assert response.status_code == 400
    assert f"&#x27;{param}&#x27; must not contain a NUL character." in response.content.decode()


def test_it_refuses_a_nul_character_in_the_flag_kind(client, alice):
    client.force_login(alice)
    response = client.get("/safety/", {"kind": "jailbreak\x00"})
    assert response.status_code == 400
    assert "must not contain a NUL character" in response.content.decode()


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize(("start", "end"), [("0001-01-01", "0001-01-02"), ("9999-12-31T00:00", "9999-12-31T23:59")])
def test_it_refuses_a_range_at_the_end_of_the_calendar(client, alice, path, start, end):
    client.force_login(alice)
    response = client.get(path, {"range": "custom", "from": start, "to": end})
    assert response.status_code == 400
    assert "must be between the years 1970 and 9000" in response.content.decode()


@pytest.mark.parametrize("path", ["/cost/export.csv", "/audit/export.csv"])
def test_it_exports_with_a_nul_character_in_some_other_parameter(client, alice, path):
    client.force_login(alice)
    response = client.get(path, {"utm\x00": "x\x00y"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
