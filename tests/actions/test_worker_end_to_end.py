"""Actions carried out by a real `celery worker` process through the filesystem broker,
including a worker that dies in the middle and a message delivered again."""

from __future__ import annotations

import json
import time

import pytest
from django.urls import reverse

from opsdash.accounts.services import create_token
from opsdash.actions.models import ActionRun
from opsdash.actions.tasks import run_action
from opsdash.audit.models import AuditEvent
from opsdash.knowledge.models import Conversation, Embedding, EmbeddingGeneration, Message
from opsdash.tenants import services as tenant_services
from opsdash.tenants.models import Tenant
from tests.actions.conftest import confirm, make_conversations, make_documents

pytestmark = pytest.mark.worker

FINISHED = {"succeeded", "failed", "cancelled"}


def wait_for_run(run_id, states=FINISHED, seconds=60.0, worker=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = ActionRun.objects.get(pk=run_id)
        if run.state in states:
            return run
        time.sleep(0.1)
    log = worker.output()[-3000:] if worker else ""
    raise AssertionError(f"run {run_id} stayed {run.state}\n{log}")


def audit_count(run, action):
    return AuditEvent.objects.filter(action=action, object_id=str(run.pk), object_type="actions.actionrun").count()


def gateway_verify(client, secret, key):
    response = client.post(reverse("api-keys-verify"), json.dumps({"key": key}), content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {secret}")  # fmt: skip
    return response.json()


def test_it_carries_out_every_action_in_a_worker(celery_worker_process, client, bob, alice, carol, acme):
    worker = celery_worker_process()
    _, gateway = create_token(acting_user=None, kind="gateway", name="gw")
    _, old_key = tenant_services.create_key(acme, acting_user=None)
    make_conversations(acme, 3, 4)
    make_documents(acme, 12)
    client.force_login(bob)

    confirm(client, acme, "pause_tenant", {"reason": "incident 7"})
    run = wait_for_run(ActionRun.objects.get(kind="pause_tenant").pk, worker=worker)
    assert run.state == "succeeded", run.error
    assert gateway_verify(client, gateway, old_key)["reason"] == "tenant_paused"

    confirm(client, acme, "resume_tenant", {"reason": "fixed"})
    run = wait_for_run(ActionRun.objects.get(kind="resume_tenant").pk, worker=worker)
    assert Tenant.objects.get(pk=acme.pk).status == "active"
    assert gateway_verify(client, gateway, old_key)["valid"] is True

    response = confirm(client, acme, "rotate_keys", {"grace_hours": 0})
    new_key = response.context["new_secret"]
    wait_for_run(ActionRun.objects.get(kind="rotate_keys").pk, worker=worker)
    assert gateway_verify(client, gateway, new_key)["valid"] is True
    assert gateway_verify(client, gateway, old_key)["reason"] == "key_revoked"

    confirm(client, acme, "reembed_documents", {"embedder": "hashing"})
    run = wait_for_run(ActionRun.objects.get(kind="reembed_documents").pk, worker=worker)
    assert run.result["documents_embedded"] == 12
    assert EmbeddingGeneration.objects.get(tenant=acme, state="active").documents == 12

    confirm(client, acme, "purge_conversations", {}, slug="acme")
    purge = ActionRun.objects.get(kind="purge_conversations")
    time.sleep(1)  # time for a worker to (wrongly) pick it up
    assert ActionRun.objects.get(pk=purge.pk).state == "awaiting_approval"
    assert Message.objects.count() == 12
    client.force_login(alice)
    client.post(reverse("action-approve", args=[purge.pk]))
    purge = wait_for_run(purge.pk, worker=worker)
    assert purge.result["messages_deleted"] == 12
    assert Conversation.objects.count() == 0


def test_it_finishes_a_purge_once_after_the_worker_dies(
    celery_worker_process, client, bob, alice, acme, globex, settings
):
    settings.ACTIONS_REQUIRE_APPROVAL = []  # approval is tested elsewhere; here the worker is
    make_conversations(acme, 10, 10)
    make_conversations(globex, 2, 3)
    settings_env = {"OPSDASH_ACTIONS_BATCH_SIZE": "10"}
    crashing = celery_worker_process({**settings_env, "OPSDASH_ACTIONS_CRASH_AFTER_BATCHES": "3"})
    client.force_login(bob)
    confirm(client, acme, "purge_conversations", {}, slug="acme")
    run = ActionRun.objects.get()
    assert crashing.wait_exit() == 70
    run.refresh_from_db()
    assert run.state == "running"
    assert 0 < run.checkpoint["messages"] < 100
    assert run.progress_done == run.checkpoint["messages"] + run.checkpoint["conversations"]
    assert Message.objects.filter(tenant=acme).count() == 100 - run.checkpoint["messages"]

    # The broker delivers the message again to a new worker, which takes the run over
    # once the dead worker's lease has run out.
    celery_worker_process({**settings_env, "OPSDASH_ACTIONS_LEASE_SECONDS": "1"})
    run_action.delay(run.pk)
    run = wait_for_run(run.pk)
    assert run.state == "succeeded", run.error
    assert run.result["messages_deleted"] == 100
    assert run.result["conversations_deleted"] == 10
    assert run.progress_done == run.progress_total == 110
    assert run.attempt == 2
    assert Message.objects.filter(tenant=acme).count() == 0
    assert Message.objects.filter(tenant=globex).count() == 6
    assert audit_count(run, "action.started") == 1
    assert audit_count(run, "action.resumed") == 1
    assert audit_count(run, "action.finished") == 1

    # A duplicate message changes nothing.
    audit_rows = AuditEvent.objects.count()
    run_action.delay(run.pk)
    run_action.delay(run.pk)
    time.sleep(2)
    run.refresh_from_db()
    assert run.attempt == 2
    assert run.state == "succeeded"
    assert AuditEvent.objects.count() == audit_rows


def test_it_finishes_a_re_embed_once_after_the_worker_dies(celery_worker_process, client, bob, acme):
    make_documents(acme, 30)
    env = {"OPSDASH_ACTIONS_EMBED_BATCH_SIZE": "5"}
    crashing = celery_worker_process({**env, "OPSDASH_ACTIONS_CRASH_AFTER_BATCHES": "3"})
    client.force_login(bob)
    confirm(client, acme, "reembed_documents", {"embedder": "hashing"})
    run = ActionRun.objects.get()
    assert crashing.wait_exit() == 70
    run.refresh_from_db()
    generation = EmbeddingGeneration.objects.get(pk=run.checkpoint["generation"])
    assert generation.state == "building"
    assert Embedding.objects.filter(generation=generation).count() == 10
    assert not EmbeddingGeneration.objects.filter(state="active").exists()

    celery_worker_process({**env, "OPSDASH_ACTIONS_LEASE_SECONDS": "1"})
    run_action.delay(run.pk)
    run = wait_for_run(run.pk)
    assert run.state == "succeeded", run.error
    assert run.result["documents_embedded"] == 30
    generation.refresh_from_db()
    assert generation.state == "active"
    assert generation.documents == 30
    assert Embedding.objects.count() == 30
    assert audit_count(run, "action.finished") == 1


def test_it_cancels_a_run_in_a_worker_and_retries_a_failed_one(celery_worker_process, client, bob, acme):
    make_documents(acme, 5)
    worker = celery_worker_process({"OPSDASH_EMBEDDINGS_URL": "http://127.0.0.1:9/v1/embeddings"})
    client.force_login(bob)
    confirm(client, acme, "reembed_documents", {"embedder": "hashing"})
    first = wait_for_run(ActionRun.objects.get().pk, worker=worker)
    assert first.state == "succeeded"

    # The endpoint is configured in the worker but unreachable: the run fails, the
    # first generation keeps serving.
    from django.test import override_settings

    with override_settings(EMBEDDINGS_URL="http://127.0.0.1:9/v1/embeddings"):
        confirm(client, acme, "reembed_documents", {"embedder": "openai"})
    failed = wait_for_run(ActionRun.objects.exclude(pk=first.pk).get().pk, worker=worker)
    assert failed.state == "failed"
    assert "could not be reached" in failed.error
    assert EmbeddingGeneration.objects.get(state="active").pk == first.result["generation"]
    page = client.get(reverse("action-detail", args=[failed.pk])).content.decode()
    assert "could not be reached" in page

    client.post(reverse("action-retry", args=[failed.pk]))
    failed = wait_for_run(failed.pk, worker=worker)
    assert failed.state == "failed"
    assert audit_count(failed, "action.retried") == 1
    assert audit_count(failed, "action.failed") == 2
