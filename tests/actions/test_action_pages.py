from __future__ import annotations

import pytest
from django.urls import reverse

from opsdash.actions.models import ActionRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(acme, bob):
    return ActionRun.objects.create(
        kind="pause_tenant", tenant=acme, requested_by=bob, state="queued", parameters={"reason": "r"},
        preview={"summary": "pauses tenant acme"}, idempotency_key="q" * 20,
    )  # fmt: skip


def test_it_polls_the_progress_only_while_the_run_is_live(client, carol, run):
    client.force_login(carol)
    url = reverse("action-progress", args=[run.pk])
    partial = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 1s"' in partial
    assert "<html" not in partial
    ActionRun.objects.filter(pk=run.pk).update(state="running", progress_done=1, progress_total=4)
    assert "1 of 4 (25 %)" in client.get(url, HTTP_HX_REQUEST="true").content.decode()
    ActionRun.objects.filter(pk=run.pk).update(state="succeeded", progress_done=4, result={"status": "paused"})
    partial = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in partial
    assert "Receipt" in partial
    # The tenant's badge in the page heading is refreshed along with it.
    assert (
        'id="tenant-status-badge" class="badge badge-active" data-testid="tenant-status" hx-swap-oob="true"' in partial
    )


def test_it_shows_no_buttons_to_a_viewer_on_a_run(client, carol, run):
    client.force_login(carol)
    page = client.get(reverse("action-detail", args=[run.pk])).content.decode()
    assert "pauses tenant acme" in page
    assert "Cancel run" not in page
    assert "Approve" not in page


def test_it_offers_cancel_to_an_operator(client, bob, run):
    client.force_login(bob)
    assert "Cancel run" in client.get(reverse("action-detail", args=[run.pk])).content.decode()


def test_it_filters_the_list_by_state_and_tenant(client, carol, run, globex, bob):
    ActionRun.objects.create(kind="pause_tenant", tenant=globex, requested_by=bob, state="failed",
                             idempotency_key="f" * 20)  # fmt: skip
    client.force_login(carol)
    listed = lambda **q: [r.pk for r in client.get(reverse("actions"), q).context["page"].object_list]  # noqa: E731
    assert len(listed()) == 2
    assert listed(state="queued") == [run.pk]
    assert listed(tenant="acme") == [run.pk]
    assert listed(tenant="globex", state="queued") == []
