"""GET /api/v1/evals/gate: CI asks whether a candidate prompt version may replace its baseline."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from opsdash.accounts.services import create_token, revoke_token
from opsdash.evals.models import EvalResult

URL = "/api/v1/evals/gate"
NOW = timezone.now()


@pytest.fixture
def secret(db) -> str:
    _, secret = create_token(acting_user=None, kind="ingest", name="ci")
    return secret


def seed_run(
    run_id: str,
    version: str,
    metrics: dict[str, tuple[int, int]],
    *,
    hours_ago: float = 1,
    suite: str = "golden",
    model: str = "gpt-4o-mini",
    prompt_id: str = "support-answer",
    cost: str | None = None,
) -> None:
    """A run whose metric M passed metrics[M][0] of metrics[M][1] cases; every case costs ``cost``
    (reported once per case, on its first metric)."""
    ts = NOW - dt.timedelta(hours=hours_ago)
    rows = []
    for position, (metric, (passed, total)) in enumerate(metrics.items()):
        for case in range(total):
            rows.append(EvalResult(
                run_id=run_id, ts=ts, suite=suite, prompt_id=prompt_id, prompt_version=version, model=model,
                case_id=f"c{case:03d}", metric=metric, passed=case < passed,
                cost_usd=Decimal(cost) if cost is not None and position == 0 else None,
            ))  # fmt: skip
    EvalResult.objects.bulk_create(rows)


def ask(client, secret: str | None, **params: str):
    query = {"prompt_id": "support-answer", "candidate": "v2", "baseline": "v1", **params}
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return client.get(f"{URL}?{urlencode(query)}", headers=headers)


def metric(body: dict, name: str) -> dict:
    return next(m for m in body["metrics"] if m["metric"] == name)


def test_it_passes_a_candidate_that_does_as_well(client, secret):
    seed_run("r-v1", "v1", {"faithfulness": (90, 100), "format": (100, 100)}, hours_ago=5, cost="0.002")
    seed_run("r-v2", "v2", {"faithfulness": (91, 100), "format": (99, 100)}, cost="0.0021")
    response = ask(client, secret)
    assert response.status_code == 200
    body = response.json()
    assert body["result"] == "pass"
    assert body["failures"] == []
    assert (body["baseline"]["run_id"], body["candidate"]["run_id"]) == ("r-v1", "r-v2")
    assert (body["baseline"]["cases"], body["candidate"]["cases"]) == (100, 100)
    assert (body["baseline"]["version"], body["candidate"]["suite"]) == ("v1", "golden")
    assert body["thresholds"] == {"max_drop_points": 2.0, "max_cost_rise_percent": 10.0}
    assert metric(body, "faithfulness") == {
        "metric": "faithfulness",
        "baseline_pass_rate": 90.0,
        "candidate_pass_rate": 91.0,
        "baseline_cases": 100,
        "candidate_cases": 100,
        "change_points": 1.0,
        "allowed_drop_points": 2.0,
        "status": "ok",
        "reason": None,
    }
    assert metric(body, "format")["change_points"] == -1.0
    assert body["cost_per_case"]["baseline_usd"] == 0.002
    assert body["cost_per_case"]["candidate_usd"] == 0.0021
    assert body["cost_per_case"]["change_percent"] == pytest.approx(5.0)
    assert body["cost_per_case"]["status"] == "ok"
    assert body["compare_url"].endswith("/evals/compare/?prompt_id=support-answer&a=v1&b=v2&suite=golden")


def test_it_fails_a_pass_rate_drop_beyond_the_threshold(client, secret):
    seed_run("r-v1", "v1", {"faithfulness": (100, 100), "format": (100, 100)}, hours_ago=5)
    seed_run("r-v2", "v2", {"faithfulness": (97, 100), "format": (100, 100)})
    response = ask(client, secret)
    assert response.status_code == 409
    body = response.json()
    assert body["result"] == "fail"
    row = metric(body, "faithfulness")
    assert (row["change_points"], row["status"]) == (-3.0, "fail")
    assert row["reason"] == "pass rate dropped 3.00 points (allowed 2)"
    assert metric(body, "format")["status"] == "ok"
    assert body["failures"] == ["faithfulness: pass rate dropped 3.00 points (allowed 2)"]


@pytest.mark.parametrize(
    ("baseline", "candidate"),
    [
        ((50, 50), (49, 50)),  # 100 % → 98 %
        # 31 % → 29 %: in binary floating point 29/100*100 - 31/100*100 is -2.0000000000000036.
        ((31, 100), (29, 100)),
    ],
)
def test_it_passes_a_drop_of_exactly_the_allowed_points(client, secret, baseline, candidate):
    seed_run("r-v1", "v1", {"faithfulness": baseline}, hours_ago=5)
    seed_run("r-v2", "v2", {"faithfulness": candidate})
    response = ask(client, secret)
    assert response.status_code == 200, response.json()
    assert metric(response.json(), "faithfulness")["change_points"] == -2.0
    assert ask(client, secret, max_drop="1.99").status_code == 409


def test_it_fails_a_cost_rise_beyond_the_threshold(client, secret):
    seed_run("r-v1", "v1", {"faithfulness": (90, 100)}, hours_ago=5, cost="0.01")
    seed_run("r-v2", "v2", {"faithfulness": (90, 100)}, cost="0.0115")
    response = ask(client, secret)
    assert response.status_code == 409
    cost = response.json()["cost_per_case"]
    assert (cost["baseline_usd"], cost["candidate_usd"]) == (0.01, 0.0115)
    assert cost["change_percent"] == pytest.approx(15.0)
    assert cost["status"] == "fail"
    assert cost["reason"] == "cost per case rose 15.00 % from $0.01 to $0.0115 (allowed 10 %)"
    assert response.json()["failures"] == [cost["reason"]]


def test_it_passes_a_cost_rise_of_exactly_the_allowed_percent(client, secret):
    seed_run("r-v1", "v1", {"faithfulness": (90, 100)}, hours_ago=5, cost="0.01")
    seed_run("r-v2", "v2", {"faithfulness": (90, 100)}, cost="0.011")
    assert ask(client, secret).status_code == 200


def test_it_counts_every_result_of_a_case_in_its_cost(client, secret):
    seed_run("r-v1", "v1", {"faithfulness": (10, 10)}, hours_ago=5, cost="0.01")
    seed_run("r-v2", "v2", {"faithfulness": (10, 10)}, cost="0.01")
    # The judge of the candidate's second metric costs too: 0.01 + 0.005 per case, +50 %.
    for case in range(10):
        EvalResult.objects.create(run_id="r-v2", ts=NOW, suite="golden", prompt_id="support-answer",
                                  prompt_version="v2", model="gpt-4o-mini", case_id=f"c{case:03d}",
                                  metric="tone", passed=True, cost_usd=Decimal("0.005"))  # fmt: skip
    cost = ask(client, secret).json()["cost_per_case"]
    assert cost["candidate_usd"] == 0.015
    assert cost["status"] == "fail"


@pytest.mark.parametrize(("base_cost", "cand_cost", "unknown"), [
    ("0.01", None, "the candidate run 'r-v2'"),
    (None, "0.5", "the baseline run 'r-v1'"),
    (None, None, "the baseline run 'r-v1' and the candidate run 'r-v2'"),
])  # fmt: skip
def test_it_skips_the_cost_check_when_a_run_reports_no_cost(client, secret, base_cost, cand_cost, unknown):
    seed_run("r-v1", "v1", {"faithfulness": (90, 100)}, hours_ago=5, cost=base_cost)
    seed_run("r-v2", "v2", {"faithfulness": (90, 100)}, cost=cand_cost)
    response = ask(client, secret)
    assert response.status_code == 200
    cost = response.json()["cost_per_case"]
    assert cost["status"] == "skipped"
    assert cost["reason"] == f"cost unknown: {unknown} report no cost_usd"
    assert cost["change_percent"] is None
    assert None in (cost["baseline_usd"], cost["candidate_usd"])


def test_it_fails_a_metric_the_candidate_does_not_measure(client, secret):
    seed_run("r-v1", "v1", {"faithfulness": (90, 100), "safety": (100, 100)}, hours_ago=5)
    seed_run("r-v2", "v2", {"faithfulness": (95, 100), "tone": (10, 100)})
    response = ask(client, secret)
    assert response.status_code == 409
    body = response.json()
    missing = metric(body, "safety")
    assert (missing["status"], missing["candidate_pass_rate"], missing["candidate_cases"]) == ("fail", None, 0)
    assert missing["reason"] == "missing in the candidate run"
    # A metric only the candidate has is shown, not held against it.
    assert (metric(body, "tone")["status"], metric(body, "tone")["baseline_pass_rate"]) == ("new", None)
    assert body["failures"] == ["safety: missing in the candidate run"]


def test_it_compares_the_latest_runs_unless_run_ids_are_pinned(client, secret):
    seed_run("r-v1-old", "v1", {"faithfulness": (50, 100)}, hours_ago=30)
    seed_run("r-v1", "v1", {"faithfulness": (90, 100)}, hours_ago=20)
    seed_run("r-v2-good", "v2", {"faithfulness": (90, 100)}, hours_ago=10)
    seed_run("r-v2-bad", "v2", {"faithfulness": (60, 100)}, hours_ago=2)
    latest = ask(client, secret)
    assert latest.status_code == 409
    assert (latest.json()["baseline"]["run_id"], latest.json()["candidate"]["run_id"]) == ("r-v1", "r-v2-bad")
    pinned = ask(client, secret, candidate_run="r-v2-good")
    assert pinned.status_code == 200
    assert pinned.json()["candidate"]["run_id"] == "r-v2-good"
    both = ask(client, secret, candidate_run="r-v2-bad", baseline_run="r-v1-old")
    assert both.status_code == 200
    assert (both.json()["baseline"]["run_id"], both.json()["candidate"]["run_id"]) == ("r-v1-old", "r-v2-bad")


def test_it_compares_runs_of_one_suite(client, secret):
    seed_run("v1-golden", "v1", {"faithfulness": (90, 100)}, hours_ago=3, suite="golden")
    seed_run("v1-safety", "v1", {"refusal": (100, 100)}, hours_ago=9, suite="safety")
    seed_run("v2-golden", "v2", {"faithfulness": (90, 100)}, hours_ago=2, suite="golden")
    seed_run("v2-safety", "v2", {"refusal": (100, 100)}, hours_ago=1, suite="safety")
    # The candidate's latest run is its safety run; the baseline's is golden, so its safety run is taken.
    body = ask(client, secret).json()
    assert (body["baseline"]["run_id"], body["candidate"]["run_id"]) == ("v1-safety", "v2-safety")
    body = ask(client, secret, suite="golden").json()
    assert (body["baseline"]["run_id"], body["candidate"]["run_id"]) == ("v1-golden", "v2-golden")
    body = ask(client, secret, baseline_run="v1-golden").json()
    assert body["candidate"]["run_id"] == "v2-golden"


def test_it_narrows_the_runs_to_a_model(client, secret):
    seed_run("v1-mini", "v1", {"faithfulness": (90, 100)}, hours_ago=5, model="mini")
    seed_run("v2-big", "v2", {"faithfulness": (95, 100)}, hours_ago=1, model="big")
    seed_run("v2-mini", "v2", {"faithfulness": (50, 100)}, hours_ago=3, model="mini")
    assert ask(client, secret).json()["candidate"]["run_id"] == "v2-big"
    response = ask(client, secret, model="mini")
    assert response.json()["candidate"]["run_id"] == "v2-mini"
    assert response.status_code == 409
    assert ask(client, secret, model="big").status_code == 404  # v1 never ran on it


def test_it_takes_its_thresholds_from_settings_and_the_request(client, secret, settings):
    seed_run("r-v1", "v1", {"faithfulness": (100, 100)}, hours_ago=5, cost="0.01")
    seed_run("r-v2", "v2", {"faithfulness": (97, 100)}, cost="0.012")
    assert ask(client, secret).status_code == 409
    settings.OPSDASH_GATE_MAX_DROP_POINTS = 5.0
    settings.OPSDASH_GATE_MAX_COST_RISE_PERCENT = 25.0
    response = ask(client, secret)
    assert response.status_code == 200
    assert response.json()["thresholds"] == {"max_drop_points": 5.0, "max_cost_rise_percent": 25.0}
    response = ask(client, secret, max_drop="2.5", max_cost_rise="30")
    assert response.status_code == 409
    assert response.json()["thresholds"] == {"max_drop_points": 2.5, "max_cost_rise_percent": 30.0}
    assert metric(response.json(), "faithfulness")["allowed_drop_points"] == 2.5
    response = ask(client, secret, max_drop="3", max_cost_rise="19.5")
    assert response.status_code == 409
    assert response.json()["cost_per_case"]["status"] == "fail"
    assert ask(client, secret, max_drop="3", max_cost_rise="20").status_code == 200


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"prompt_id": ""}, "prompt_id is required."),
        ({"candidate": "", "baseline": " "}, "candidate and baseline are required."),
        ({"candidate": "v" * 101}, "candidate is longer than 100 characters."),
        ({"candidate_run": "r" * 129}, "candidate_run is longer than 128 characters."),
        ({"max_drop": "two"}, "max_drop must be a number such as 2 or 2.5, got 'two'."),
        ({"max_drop": "nan"}, "max_drop must be a number such as 2 or 2.5, got 'nan'."),
        ({"max_drop": "inf"}, "max_drop must be a number such as 2 or 2.5, got 'inf'."),
        ({"max_drop": "1e3"}, "max_drop must be a number such as 2 or 2.5, got '1e3'."),
        ({"max_drop": "-1"}, "max_drop must be 0 or more, got -1."),
        ({"max_drop": "100.5"}, "max_drop must be at most 100, got 100.5."),
        ({"max_cost_rise": "-0.5"}, "max_cost_rise must be 0 or more, got -0.5."),
        ({"max_cost_rise": "10%"}, "max_cost_rise must be a number such as 2 or 2.5, got '10%'."),
        ({"max_drops": "5"}, "unknown parameter 'max_drops'; the parameters are prompt_id, candidate, baseline, "
                             "candidate_run, baseline_run, suite, model, max_drop, max_cost_rise."),
        ({"baseline_run": "r-v2"}, "baseline_run: run 'r-v2' is a run of support-answer@v2, not of support-answer@v1."),
        ({"candidate_run": "r-v2", "suite": "safety"}, "candidate_run: run 'r-v2' ran suite 'golden', not 'safety'."),
        ({"candidate": "v1", "candidate_run": "r-v1", "baseline_run": "r-v1"},
         "candidate and baseline are the same run ('r-v1'); compare two different runs."),
    ],
)  # fmt: skip
def test_it_refuses_bad_parameters_saying_which(client, secret, params, detail):
    seed_run("r-v1", "v1", {"faithfulness": (90, 100)}, hours_ago=5)
    seed_run("r-v2", "v2", {"faithfulness": (90, 100)})
    response = ask(client, secret, **params)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid parameter", "detail": detail}


def test_it_refuses_a_parameter_given_twice(client, secret):
    response = client.get(
        f"{URL}?prompt_id=p&candidate=v2&baseline=v1&max_drop=1&max_drop=50",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "max_drop is given 2 times; give it once."


def test_it_says_404_when_a_version_has_no_run(client, secret):
    seed_run("r-v1", "v1", {"faithfulness": (90, 100)})
    response = ask(client, secret)
    assert response.status_code == 404
    assert response.json() == {"error": "no eval run", "detail": "candidate: no eval run of support-answer@v2."}
    seed_run("r-v2", "v2", {"faithfulness": (90, 100)}, suite="safety")
    response = ask(client, secret)
    assert response.status_code == 404
    assert response.json()["detail"] == "baseline: no eval run of support-answer@v1 (suite 'safety')."
    response = ask(client, secret, candidate_run="no-such-run")
    assert response.status_code == 404
    assert response.json()["detail"] == "candidate_run: there is no eval run 'no-such-run'."
    assert ask(client, secret, prompt_id="unknown-prompt").status_code == 404


def test_it_requires_an_active_ingest_token(client, secret, alice):
    seed_run("r-v1", "v1", {"faithfulness": (90, 100)}, hours_ago=5)
    seed_run("r-v2", "v2", {"faithfulness": (90, 100)})
    assert ask(client, secret).status_code == 200
    for bad in (None, "odi_nope", secret + "x"):
        response = ask(client, bad)
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
        assert response["WWW-Authenticate"] == "Bearer"
    _, gateway = create_token(acting_user=None, kind="gateway", name="edge")
    assert ask(client, gateway).status_code == 401
    token, revoked = create_token(acting_user=None, kind="ingest", name="old")
    revoke_token(token, acting_user=None)
    assert ask(client, revoked).status_code == 401
    # A browser session is not a token.
    client.force_login(alice)
    assert ask(client, None).status_code == 401
    # Parameters are not looked at before the token: nothing is revealed to a stranger.
    assert client.get(URL).status_code == 401


def test_a_bad_threshold_setting_stops_start_up(tmp_path):
    from tests.lib.test_settings_startup import assert_one_sentence, run_manage

    # A database that is never reached: settings refuse the value before any connection,
    # and no embedded server is started for this check.
    env = {"OPSDASH_DEBUG": "1", "OPSDASH_DATA_DIR": str(tmp_path), "DATABASE_URL": "postgres://u@127.0.0.1:1/x"}
    result = run_manage("check", **env, OPSDASH_GATE_MAX_DROP_POINTS="two")
    assert_one_sentence(result, "OPSDASH_GATE_MAX_DROP_POINTS='two' is not a number.")
    result = run_manage("check", **env, OPSDASH_GATE_MAX_COST_RISE_PERCENT="-5")
    assert_one_sentence(result, "OPSDASH_GATE_MAX_COST_RISE_PERCENT=-5 is below the minimum of 0.")


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_fail_with_body_exits_0_on_pass_and_22_on_fail(live_server, transactional_db):
    """The one-line CI check of the README, against a running server."""
    _, secret = create_token(acting_user=None, kind="ingest", name="ci")
    seed_run("r-v1", "v1", {"faithfulness": (100, 100)}, hours_ago=5)
    seed_run("r-v2", "v2", {"faithfulness": (97, 100)})

    def curl(**params: str) -> subprocess.CompletedProcess[str]:
        query = urlencode({"prompt_id": "support-answer", "candidate": "v2", "baseline": "v1", **params})
        return subprocess.run(
            ["curl", "-sS", "--fail-with-body", "-H", f"Authorization: Bearer {secret}",
             f"{live_server.url}{URL}?{query}"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip

    failed = curl()
    assert failed.returncode == 22
    assert json.loads(failed.stdout)["result"] == "fail"
    passed = curl(max_drop="3")
    assert passed.returncode == 0
    assert json.loads(passed.stdout)["result"] == "pass"
    missing = curl(candidate="v9")
    assert missing.returncode == 22
    assert json.loads(missing.stdout)["error"] == "no eval run"


def test_it_compares_only_the_reported_suite_of_a_run_that_holds_two(client, secret):
    seed_run("r-v1", "v1", {"faithfulness": (90, 100)}, hours_ago=5)
    seed_run("r-v2", "v2", {"faithfulness": (90, 100)})
    # The same run id also carries a small smoke suite that fails badly: not part of golden.
    EvalResult.objects.bulk_create(
        EvalResult(run_id="r-v2", ts=NOW, suite="smoke", prompt_id="support-answer", prompt_version="v2",
                   model="gpt-4o-mini", case_id=f"smoke-{case}", metric="faithfulness", passed=False)
        for case in range(10)
    )  # fmt: skip
    body = ask(client, secret).json()
    assert body["candidate"]["suite"] == "golden"
    assert metric(body, "faithfulness")["candidate_pass_rate"] == 90.0
    assert body["result"] == "pass"
