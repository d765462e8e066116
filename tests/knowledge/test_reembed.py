from __future__ import annotations

import numpy as np
import pytest

from opsdash.actions import runner
from opsdash.actions.models import ActionRun
from opsdash.actions.services import retry_run
from opsdash.knowledge import embedders
from opsdash.knowledge.embedders import HashingEmbedder
from opsdash.knowledge.models import Embedding, EmbeddingGeneration
from tests.actions.conftest import make_documents

pytestmark = pytest.mark.django_db


@pytest.fixture
def docs(acme, globex, settings):
    settings.ACTIONS_EMBED_BATCH_SIZE = 4
    settings.ACTIONS_BATCH_SIZE = 5
    make_documents(globex, 3)
    return make_documents(acme, 10)


def reembed(acme, bob, key):
    run = ActionRun.objects.create(
        kind="reembed_documents", tenant=acme, requested_by=bob, state="queued",
        parameters={"embedder": "hashing"}, idempotency_key=key,
    )  # fmt: skip
    runner.execute(run.pk)
    run.refresh_from_db()
    return run


def active(tenant):
    return EmbeddingGeneration.objects.get(tenant=tenant, state="active")


def test_it_builds_a_generation_and_switches_to_it(acme, bob, docs):
    run = reembed(acme, bob, "a" * 20)
    assert run.state == ActionRun.State.SUCCEEDED, run.error
    generation = active(acme)
    assert run.result["documents_embedded"] == 10
    assert generation.documents == 10
    assert generation.embedder == "hashing-256"
    stored = Embedding.objects.get(generation=generation, document=docs[0]).vector
    expected = HashingEmbedder(256).embed([f"{docs[0].title}\n{docs[0].content}"])[0]
    assert np.allclose(stored, expected, atol=1e-6)


def test_it_replaces_the_old_generation_and_deletes_its_vectors(acme, bob, docs):
    first = reembed(acme, bob, "a" * 20)
    second = reembed(acme, bob, "b" * 20)
    assert second.state == ActionRun.State.SUCCEEDED
    assert active(acme).pk == second.result["generation"] != first.result["generation"]
    assert second.result["old_vectors_deleted"] == 10
    assert EmbeddingGeneration.objects.get(pk=first.result["generation"]).state == "retired"
    assert Embedding.objects.filter(tenant=acme).count() == 10


def test_it_keeps_the_old_generation_active_when_a_build_fails(acme, bob, docs, monkeypatch):
    first = reembed(acme, bob, "a" * 20)
    calls = []
    real = HashingEmbedder.embed

    def failing(self, texts):
        calls.append(1)
        if len(calls) == 2 and outage:
            raise embedders.EmbedderError("the model server went away")
        return real(self, texts)

    outage = True
    monkeypatch.setattr(HashingEmbedder, "embed", failing)
    second = reembed(acme, bob, "b" * 20)
    assert second.state == ActionRun.State.FAILED
    assert "the model server went away" in second.error
    assert active(acme).pk == first.result["generation"]
    assert Embedding.objects.filter(generation=active(acme)).count() == 10
    assert EmbeddingGeneration.objects.get(pk=second.checkpoint["generation"]).state == "failed"

    # Retried, it picks up where it stopped and then replaces the old generation.
    outage = False
    retry_run(second, acting_user=bob)
    runner.execute(second.pk)
    second.refresh_from_db()
    assert second.state == ActionRun.State.SUCCEEDED
    assert second.result["documents_embedded"] == 10
    assert active(acme).pk == second.checkpoint["generation"]
    assert Embedding.objects.filter(tenant=acme).count() == 10


def test_it_starts_afresh_when_a_retried_build_was_cleared_meanwhile(acme, bob, docs, monkeypatch):
    outage, calls = True, []
    real = HashingEmbedder.embed

    def failing(self, texts):
        calls.append(1)
        if outage and len(calls) > 1:
            raise embedders.EmbedderError("down")
        return real(self, texts)

    monkeypatch.setattr(HashingEmbedder, "embed", failing)
    failed = reembed(acme, bob, "a" * 20)
    assert failed.state == ActionRun.State.FAILED
    assert failed.checkpoint["embedded"] == 4
    outage = False
    later = reembed(acme, bob, "b" * 20)  # clears the failed generation's leftovers
    assert later.state == ActionRun.State.SUCCEEDED
    retry_run(failed, acting_user=bob)
    runner.execute(failed.pk)
    failed.refresh_from_db()
    assert failed.state == ActionRun.State.SUCCEEDED
    assert failed.result["documents_embedded"] == 10
    assert active(acme).pk == failed.result["generation"]
    assert Embedding.objects.filter(generation=active(acme)).count() == 10
