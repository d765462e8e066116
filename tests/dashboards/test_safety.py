from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from opsdash.safety.models import SafetyFlag
from opsdash.tenants.models import Tenant


@pytest.fixture
def flags(db, traffic):
    now = timezone.now()
    north = Tenant.objects.get(slug="north")
    south = Tenant.objects.get(slug="south")
    rows = [SafetyFlag(tenant=north, ts=now - dt.timedelta(hours=2, minutes=i), event_id=f"n{i}", kind="jailbreak",
                       severity="high", excerpt="ignore all previous [email]", conversation_id="conv-1")
            for i in range(30)]  # fmt: skip
    rows += [SafetyFlag(tenant=south, ts=now - dt.timedelta(hours=5), event_id=f"s{i}", kind="pii", severity="low")
             for i in range(4)]  # fmt: skip
    SafetyFlag.objects.bulk_create(rows)


def test_it_counts_flags_by_kind_and_tenant(client, alice, flags):
    client.force_login(alice)
    response = client.get("/safety/?range=24h")
    assert response.context["total"] == 34
    assert response.context["kinds"] == ["jailbreak", "pii"]
    assert response.context["top_tenants"][0] == {"tenant__slug": "north", "n": 30}
    assert len(response.context["page"].object_list) == 34


def test_it_lists_only_the_chosen_kind(client, alice, flags):
    client.force_login(alice)
    response = client.get("/safety/?range=24h&kind=pii")
    assert {f.kind for f in response.context["page"].object_list} == {"pii"}


def test_it_links_a_flag_to_its_conversation_and_tenant(client, alice, flags):
    from opsdash.knowledge.models import Conversation

    north = Tenant.objects.get(slug="north")
    Conversation.objects.create(tenant=north, external_id="conv-1", started_at=timezone.now(),
                                last_message_at=timezone.now())  # fmt: skip
    client.force_login(alice)
    body = client.get("/safety/?range=24h&kind=jailbreak").content.decode()
    assert "/tenants/north/conversations/conv-1/" in body
    assert "ignore all previous [email]" in body
    assert client.get("/tenants/north/conversations/conv-1/").status_code == 200


def test_a_scoped_viewer_sees_only_their_flags(client, southie, flags):
    client.force_login(southie)
    response = client.get("/safety/?range=24h")
    assert response.context["total"] == 4
    assert client.get("/tenants/north/conversations/conv-1/").status_code == 404


def test_it_shows_an_empty_state(client, alice, db, traffic):
    client.force_login(alice)
    assert b"No safety flags in this range" in client.get("/safety/?range=1h").content


def test_kinds_with_the_same_count_stack_in_the_order_of_their_names():
    from opsdash.safety.charts import stacked

    steps = [timezone.now() - dt.timedelta(hours=h) for h in (2, 1)]
    chart = stacked(steps, {"toxicity": [1, 1], "jailbreak": [0, 2], "pii": [2, 0], "spam": [3, 3]}, "flags")
    assert [trace["name"] for trace in chart["data"]] == ["spam", "jailbreak", "pii", "toxicity"]


def test_tenants_with_as_many_flags_are_listed_by_name(client, alice, db, traffic):
    now = timezone.now()
    alpha = Tenant.objects.create(slug="alpha", name="Alpha")
    rows = []
    for tenant, n in ((Tenant.objects.get(slug="south"), 4), (Tenant.objects.get(slug="north"), 4), (alpha, 2)):
        rows += [SafetyFlag(tenant=tenant, ts=now - dt.timedelta(hours=3), event_id=f"{tenant.slug}{i}", kind="pii",
                            severity="low") for i in range(n)]  # fmt: skip
    SafetyFlag.objects.bulk_create(rows)
    client.force_login(alice)
    for range_ in ("24h", "7d"):  # counted from the flags, and from the rollups
        top = client.get(f"/safety/?range={range_}").context["top_tenants"]
        assert [(t["tenant__slug"], t["n"]) for t in top] == [("north", 4), ("south", 4), ("alpha", 2)], range_


def test_a_kind_has_the_same_colour_at_24_hours_7_and_30_days(client, alice, flags):
    client.force_login(alice)
    seen: dict[str, set[str]] = {}
    for range_ in ("24h", "7d", "30d"):
        context = client.get(f"/safety/?range={range_}").context
        for chart in ("by_kind", "by_severity"):
            for trace in context[chart]["data"]:
                seen.setdefault(f"{chart}:{trace['name']}", set()).add(trace["marker"]["color"])
    assert {"by_kind:jailbreak", "by_kind:pii", "by_severity:high", "by_severity:low"} <= set(seen)
    assert all(len(colours) == 1 for colours in seen.values()), seen
