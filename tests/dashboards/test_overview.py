from __future__ import annotations

import pytest

from tests.dashboards.conftest import raw_stats


def test_it_shows_requests_errors_and_p95_equal_to_raw_events(client, alice, traffic):
    client.force_login(alice)
    response = client.get("/?range=24h")
    assert response.status_code == 200
    current = response.context["current"]
    exact = raw_stats()[None]
    assert current.requests == exact["requests"] == len(traffic)
    assert current.failed == exact["failed"]
    assert current.cost_usd == exact["cost"]
    assert current.p95 == pytest.approx(exact["p95"], rel=0.02)
    body = response.content.decode()
    assert f"{exact['requests']:,}" in body


def test_it_narrows_every_tile_to_one_tenant(client, alice, traffic):
    client.force_login(alice)
    response = client.get("/?range=24h&tenant=north")
    exact = raw_stats("t.slug = %s", ["north"])[None]
    assert response.context["current"].requests == exact["requests"]
    assert response.context["current"].p95 == pytest.approx(exact["p95"], rel=0.02)


def test_it_limits_a_scoped_viewer_to_their_tenants(client, southie, traffic):
    client.force_login(southie)
    response = client.get("/?range=24h")
    exact = raw_stats("t.slug = %s", ["south"])[None]
    assert response.context["current"].requests == exact["requests"]
    assert client.get("/?tenant=north").status_code == 404


def test_it_refuses_a_bad_range_with_a_clear_400(client, alice, traffic):
    client.force_login(alice)
    response = client.get("/?range=fortnight")
    assert response.status_code == 400
    assert b"These filters cannot be used" in response.content
    assert b"&#x27;range&#x27; must be one of" in response.content


def test_it_answers_with_only_the_panels_for_htmx(client, alice, traffic):
    client.force_login(alice)
    response = client.get("/?range=24h", headers={"HX-Request": "true", "HX-Target": "panels"})
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="panels"')
    assert "<html" not in body


def test_it_reads_a_bounded_number_of_queries(client, alice, traffic, django_assert_max_num_queries):
    client.force_login(alice)
    with django_assert_max_num_queries(25):
        client.get("/?range=7d")
