"""/evals/compare/: two prompt versions (or two models) side by side, evals and production."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from django.utils import timezone

from opsdash.evals.models import EvalResult
from tests.evals.compare_data import seeded

URL = "/evals/compare/"


@pytest.fixture
def traffic(transactional_db, acme, globex):
    yield from seeded()


def expected(events: list[dict], **match: object) -> dict:
    """Production numbers computed straight from the events sent."""
    chosen = [e for e in events if all(e.get(k) == v for k, v in match.items())]
    priced = [Decimal(str(e["cost_usd"])) for e in chosen if "cost_usd" in e]
    return {
        "requests": len(chosen),
        "error_rate": sum(e["status"] in ("error", "timeout") for e in chosen) / len(chosen),
        "p95": float(np.percentile([e["latency_ms"] for e in chosen], 95)),
        "cost_per_request": sum(priced) / len(priced),
        "unpriced": len(chosen) - len(priced),
    }


def assert_production(side, numbers: dict) -> None:
    p = side.production
    assert p.requests == numbers["requests"]
    assert p.error_rate == pytest.approx(numbers["error_rate"])
    assert p.cost_unknown == numbers["unpriced"]
    assert side.cost_per_request == pytest.approx(numbers["cost_per_request"])
    # The rollups keep latency in 4.4 %-wide buckets.
    assert p.p95 == pytest.approx(numbers["p95"], rel=0.02)


def test_it_shows_the_latest_eval_run_of_each_version_per_metric(client, carol, traffic):
    client.force_login(carol)
    response = client.get(f"{URL}?prompt_id=answer&a=v1&b=v2")
    assert response.status_code == 200
    a, b = response.context["sides"]
    assert (a.value, a.run.run_id, a.run.cases) == ("v1", "v1-new", 40)
    assert (b.value, b.run.run_id, b.run.cases) == ("v2", "v2-new", 40)
    rows = {r.metric: r for r in response.context["metric_rows"]}
    assert [(r.a.passed, r.a.total, r.b.passed, r.b.total) for r in [rows["exact_match"], rows["groundedness"]]] == [
        (38, 40, 39, 40),
        (36, 40, 25, 40),
    ]
    assert rows["exact_match"].change == pytest.approx(39 / 40 - 38 / 40)
    assert rows["groundedness"].change == pytest.approx(25 / 40 - 36 / 40)
    assert (rows["tone"].a, rows["tone"].check.status) == (None, "new")
    assert (a.run.cost_per_case, b.run.cost_per_case) == (Decimal("0.01"), Decimal("0.01"))
    page = response.content.decode()
    assert "90.0 %" in page  # v1 groundedness 36/40
    assert "62.5 %" in page  # v2 groundedness 25/40
    assert "−27.5 pp" in page
    # groundedness fell by more than the gate allows.
    assert response.context["report"].passed is False
    assert "gate: fail" in page


def test_it_shows_production_numbers_equal_to_the_events_sent(client, alice, traffic):
    client.force_login(alice)
    response = client.get(f"{URL}?prompt_id=answer&a=v1&b=v2&range=24h")
    a, b = response.context["sides"]
    assert_production(a, expected(traffic, prompt_id="answer", prompt_version="v1"))
    assert_production(b, expected(traffic, prompt_id="answer", prompt_version="v2"))
    page = response.content.decode()
    assert f"{expected(traffic, prompt_id='answer', prompt_version='v1')['requests']:,}" in page


def test_it_counts_only_the_tenants_a_user_may_see(client, dave, traffic):
    client.force_login(dave)  # a viewer limited to globex
    response = client.get(f"{URL}?prompt_id=answer&a=v1&b=v2&range=24h")
    assert response.status_code == 200
    a, b = response.context["sides"]
    assert_production(a, expected(traffic, prompt_id="answer", prompt_version="v1", tenant="globex"))
    assert_production(b, expected(traffic, prompt_id="answer", prompt_version="v2", tenant="globex"))
    assert a.production.requests < expected(traffic, prompt_id="answer", prompt_version="v1")["requests"]
    # Eval results belong to no tenant: dave sees the same runs as anyone.
    assert (a.run.run_id, b.run.run_id) == ("v1-new", "v2-new")
    assert client.get(f"{URL}?prompt_id=answer&a=v1&b=v2&tenant=acme").status_code == 404


def test_it_narrows_production_to_one_tenant(client, alice, traffic):
    client.force_login(alice)
    response = client.get(f"{URL}?prompt_id=answer&a=v1&b=v2&range=24h&tenant=acme")
    a, _ = response.context["sides"]
    assert_production(a, expected(traffic, prompt_id="answer", prompt_version="v1", tenant="acme"))


def test_it_compares_two_models(client, alice, traffic):
    client.force_login(alice)
    response = client.get(f"{URL}?prompt_id=answer&by=model&a=mini&b=big&range=24h")
    assert response.status_code == 200
    a, b = response.context["sides"]
    assert (a.run.run_id, b.run.run_id) == ("v1-new", "v2-new")
    # A model's traffic over every prompt: the summary calls on big count too.
    assert_production(a, expected(traffic, model="mini"))
    assert_production(b, expected(traffic, model="big"))
    assert "over all prompts" in response.content.decode()


def test_it_compares_runs_of_one_suite(client, alice, traffic):
    client.force_login(alice)
    response = client.get(f"{URL}?prompt_id=answer&a=v1&b=v2&suite=safety")
    a, b = response.context["sides"]
    assert (a.run.run_id, b.run) == ("v1-safety", None)
    assert "no eval run in suite safety" in response.content.decode()


def test_it_defaults_to_the_latest_version_and_the_one_before(client, alice, traffic):
    client.force_login(alice)
    response = client.get(f"{URL}?prompt_id=answer")
    assert [s.value for s in response.context["sides"]] == ["v1", "v2"]
    response = client.get(f"{URL}?prompt_id=answer&b=v1")
    assert "No version before v1 to compare it with" in response.content.decode()
    EvalResult.objects.create(
        run_id="solo-1", ts=timezone.now(), suite="golden", prompt_id="solo", prompt_version="v1", model="mini",
        case_id="c1", metric="exact_match", passed=True,
    )  # fmt: skip
    response = client.get(f"{URL}?prompt_id=solo")
    assert "Only one version of this prompt has eval results" in response.content.decode()


def test_the_evals_page_links_each_version_to_a_comparison_with_the_previous_one(client, alice, traffic):
    client.force_login(alice)
    page = client.get("/evals/?range=30d&tenant=globex").content.decode()
    assert 'href="/evals/compare/?range=30d&amp;tenant=globex&amp;prompt_id=answer&amp;a=v1&amp;b=v2"' in page
    assert ">compare with v1</a>" in page


@pytest.mark.parametrize(
    ("query", "heading"),
    [
        ("", "Choose a prompt to compare"),
        ("?prompt_id=nothing-like-it", "No eval results for this prompt"),
        ("?prompt_id=nothing-like-it&a=v1&b=v2", "No production traffic in this range"),
        (
            "?prompt_id=answer&a=v1&b=v2&range=custom&from=2020-01-01&to=2020-01-02",
            "No production traffic in this range",
        ),
    ],
)
def test_it_explains_what_is_missing(client, carol, traffic, query, heading):
    client.force_login(carol)
    response = client.get(f"{URL}{query}")
    assert response.status_code == 200
    assert heading in response.content.decode()


def test_it_says_when_a_version_has_no_eval_run(client, carol, traffic):
    client.force_login(carol)
    response = client.get(f"{URL}?prompt_id=answer&a=v0&b=v2")
    a, b = response.context["sides"]
    assert (a.run, b.run.run_id) == (None, "v2-new")
    assert 'data-testid="no-run-a"' in response.content.decode()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?prompt_id=answer&a=v1&b=v2&by=tenant", "&#x27;by&#x27; must be version or model, got &#x27;tenant&#x27;."),
        ("?prompt_id=answer&a=v2&b=v2", "&#x27;a&#x27; and &#x27;b&#x27; are the same version"),
        ("?a=v1&b=v2", "Choose the prompt (&#x27;prompt_id&#x27;)"),
        (f"?prompt_id={'p' * 201}", "&#x27;prompt_id&#x27; is longer than 200 characters."),
        ("?prompt_id=answer&range=2d", "&#x27;range&#x27; must be one of"),
    ],
)
def test_it_refuses_bad_parameters_with_a_clear_message(client, carol, db, query, message):
    client.force_login(carol)
    response = client.get(f"{URL}{query}")
    assert response.status_code == 400
    assert message in response.content.decode()


def test_it_needs_a_role(client, eve, db):
    assert client.get(URL).status_code == 302
    client.force_login(eve)
    assert client.get(URL).status_code == 403
