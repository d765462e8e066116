"""The five actions on a tenant. Each counts before it acts and works in batches."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils import timezone

from opsdash.actions import forms
from opsdash.actions.context import ActionFailed, RunContext
from opsdash.actions.registry import Action, Preview
from opsdash.knowledge import services as knowledge
from opsdash.knowledge.embedders import EmbedderError, get_embedder
from opsdash.knowledge.models import Embedding, EmbeddingGeneration
from opsdash.tenants import services as tenants
from opsdash.tenants.models import Tenant, TenantKey


def _n(value: int) -> str:
    return intcomma(value)


def _live_keys(tenant: Tenant) -> int:
    return TenantKey.objects.filter(tenant=tenant, state__in=[TenantKey.State.ACTIVE, TenantKey.State.EXPIRING]).count()


class _OneStep(Action):
    """Actions that are a single change: one batch, replay-safe through the checkpoint."""

    def run(self, ctx: RunContext) -> dict[str, Any]:
        ctx.set_total(1)
        if not ctx.checkpoint.get("done"):
            with ctx.batch() as checkpoint:
                tenant = Tenant.objects.get(pk=ctx.run.tenant_id)
                try:
                    checkpoint["result"] = self.apply(ctx, tenant)
                except tenants.TenantChangeError as exc:
                    raise ActionFailed(str(exc)) from exc
                checkpoint["done"] = True
                ctx.advance(1)
        return ctx.checkpoint["result"]

    def apply(self, ctx: RunContext, tenant: Tenant) -> dict[str, Any]:
        raise NotImplementedError


class PauseTenant(_OneStep):
    kind = "pause_tenant"
    label = "Pause tenant"
    description = "The gateway refuses the tenant's traffic until it is resumed."
    form_class = forms.ReasonForm

    def unavailable(self, tenant: Tenant) -> str | None:
        return f"{tenant.slug} is already paused." if tenant.is_paused else None

    def preview(self, tenant: Tenant, parameters: dict[str, Any]) -> Preview:
        keys = _live_keys(tenant)
        return Preview(
            f"pauses tenant {tenant.slug}: the gateway refuses every request made with its keys "
            f"({_n(keys)} live) until it is resumed",
            {"live_keys": keys},
            1,
        )

    def apply(self, ctx: RunContext, tenant: Tenant) -> dict[str, Any]:
        reason = ctx.run.parameters["reason"]
        tenant = tenants.pause_tenant(tenant, acting_user=ctx.actor, reason=reason)
        return {
            "status": tenant.status,
            "reason": reason,
            "paused_at": tenant.paused_at.isoformat() if tenant.paused_at else None,
        }


class ResumeTenant(_OneStep):
    kind = "resume_tenant"
    label = "Resume tenant"
    description = "The gateway accepts the tenant's traffic again."
    form_class = forms.ReasonForm

    def unavailable(self, tenant: Tenant) -> str | None:
        return None if tenant.is_paused else f"{tenant.slug} is not paused."

    def preview(self, tenant: Tenant, parameters: dict[str, Any]) -> Preview:
        keys = _live_keys(tenant)
        return Preview(
            f"resumes tenant {tenant.slug} (paused since {tenant.paused_at:%Y-%m-%d %H:%M} UTC: "
            f"{tenant.paused_reason}); its {_n(keys)} live key{'s' if keys != 1 else ''} work again"
            if tenant.paused_at
            else f"resumes tenant {tenant.slug}",
            {"live_keys": keys},
            1,
        )

    def apply(self, ctx: RunContext, tenant: Tenant) -> dict[str, Any]:
        tenant = tenants.resume_tenant(tenant, acting_user=ctx.actor, reason=ctx.run.parameters["reason"])
        return {"status": tenant.status, "reason": ctx.run.parameters["reason"]}


class RotateKeys(_OneStep):
    kind = "rotate_keys"
    label = "Rotate keys"
    description = "Issue a new key; the current ones keep working for a grace period, then are revoked."
    form_class = forms.RotateKeysForm

    def preview(self, tenant: Tenant, parameters: dict[str, Any]) -> Preview:
        keys = _live_keys(tenant)
        grace = int(parameters["grace_hours"])
        if not keys:
            fate = "there are no current keys"
        elif grace == 0:
            fate = f"its {_n(keys)} current key{'s are' if keys != 1 else ' is'} revoked at once"
        else:
            deadline = timezone.now() + timedelta(hours=grace)
            fate = (
                f"its {_n(keys)} current key{'s keep' if keys != 1 else ' keeps'} working for {grace} h, "
                f"until about {deadline:%Y-%m-%d %H:%M} UTC, then {'are' if keys != 1 else 'is'} revoked"
            )
        return Preview(f"creates a new key for tenant {tenant.slug}; {fate}", {"current_keys": keys}, 1)

    def prepare(self, run: Any) -> str | None:
        issued = tenants.new_key_secret()
        run.internal = {"prefix": issued.prefix, "secret_hash": issued.secret_hash}
        return issued.secret

    def apply(self, ctx: RunContext, tenant: Tenant) -> dict[str, Any]:
        params, internal = ctx.run.parameters, ctx.run.internal
        rotation = tenants.rotate_keys(
            tenant,
            acting_user=ctx.actor,
            prefix=internal["prefix"],
            secret_hash=internal["secret_hash"],
            grace_hours=int(params["grace_hours"]),
            name=params.get("name") or "",
        )
        return {
            "new_key": rotation.new_key.prefix,
            "grace_hours": int(params["grace_hours"]),
            "old_keys": rotation.expiring,
            "old_keys_valid_until": rotation.grace_deadline.isoformat() if params["grace_hours"] else None,
        }


def _purge_scope(tenant_id: int, parameters: dict[str, Any]) -> knowledge.PurgeScope:
    before = parameters.get("before")
    cutoff = datetime.combine(date.fromisoformat(before), datetime.min.time(), tzinfo=UTC) if before else None
    return knowledge.PurgeScope(tenant_id=tenant_id, before=cutoff, user_hash=parameters.get("user_hash") or "")


class PurgeConversations(Action):
    kind = "purge_conversations"
    label = "Purge conversations"
    description = "Delete stored conversations and their messages for good."
    destructive = True
    form_class = forms.PurgeForm

    def preview(self, tenant: Tenant, parameters: dict[str, Any]) -> Preview:
        counts = knowledge.purge_counts(_purge_scope(tenant.pk, parameters))
        words = (
            f"deletes {_n(counts['messages'])} messages in {_n(counts['conversations'])} conversations "
            f"of tenant {tenant.slug}"
        )
        if parameters.get("before"):
            words += f" older than {parameters['before']}"
        if parameters.get("user_hash"):
            words += f" of user {parameters['user_hash']}"
        return Preview(words, counts, counts["messages"] + counts["conversations"])

    def run(self, ctx: RunContext) -> dict[str, Any]:
        scope = _purge_scope(ctx.run.tenant_id, ctx.run.parameters)
        batch_size = settings.ACTIONS_BATCH_SIZE
        if ctx.total is None:
            counts = knowledge.purge_counts(scope)
            ctx.set_total(counts["messages"] + counts["conversations"])
            with ctx.batch() as checkpoint:
                checkpoint["window"] = knowledge.purge_window(counts, batch_size)
        window = ctx.checkpoint.get("window", knowledge.PURGE_WINDOW)
        while not ctx.checkpoint.get("finished"):
            with ctx.batch() as checkpoint:
                step = knowledge.purge_step(scope, checkpoint, batch_size, window)
                checkpoint["messages"] = checkpoint.get("messages", 0) + step.messages
                checkpoint["conversations"] = checkpoint.get("conversations", 0) + step.conversations
                checkpoint["finished"] = step.finished
                ctx.advance(step.messages + step.conversations)
        return {
            "messages_deleted": ctx.checkpoint.get("messages", 0),
            "conversations_deleted": ctx.checkpoint.get("conversations", 0),
            "older_than": ctx.run.parameters.get("before") or None,
            "user_hash": ctx.run.parameters.get("user_hash") or None,
        }


class ReembedDocuments(Action):
    kind = "reembed_documents"
    label = "Re-embed documents"
    description = "Compute every document's vector again into a new generation, then switch to it."
    form_class = forms.ReembedForm

    def preview(self, tenant: Tenant, parameters: dict[str, Any]) -> Preview:
        docs = knowledge.document_count(tenant.pk)
        active = knowledge.active_generation(tenant.pk)
        old = Embedding.objects.filter(tenant_id=tenant.pk).exclude(generation=active).count() if active else 0
        current = Embedding.objects.filter(generation=active).count() if active else 0
        words = (
            f"embeds {_n(docs)} documents of tenant {tenant.slug} with {parameters['embedder']} into a new generation"
        )
        if active:
            words += (
                f"; the active generation #{active.pk} ({active.embedder}, {_n(current)} vectors) serves "
                f"until the new one is complete, then its vectors are deleted"
            )
        return Preview(words, {"documents": docs, "active_vectors": current}, docs + current + old)

    def run(self, ctx: RunContext) -> dict[str, Any]:
        run = ctx.run
        try:
            embedder = get_embedder(run.parameters["embedder"])
        except EmbedderError as exc:
            raise ActionFailed(str(exc)) from exc
        if ctx.total is None:
            ctx.set_total(
                knowledge.document_count(run.tenant_id) + Embedding.objects.filter(tenant_id=run.tenant_id).count()
            )
        checkpoint = ctx.checkpoint
        if "generation" not in checkpoint:
            with ctx.batch() as cp:
                cp["generation"] = knowledge.start_generation(run.tenant_id, embedder).pk
                cp.update(phase="build", after_id=0, embedded=0, deleted=0)
        generation = EmbeddingGeneration.objects.get(pk=ctx.checkpoint["generation"])
        if generation.state == EmbeddingGeneration.State.FAILED and ctx.checkpoint["phase"] == "build":
            # A retried run picks its half-built generation up where it stopped, unless a
            # later re-embed has cleared it meanwhile: then it starts a fresh one.
            with ctx.batch() as cp:
                if generation.embeddings.count() == cp["embedded"]:
                    EmbeddingGeneration.objects.filter(pk=generation.pk).update(
                        state=EmbeddingGeneration.State.BUILDING
                    )
                else:
                    generation = knowledge.start_generation(run.tenant_id, embedder)
                    cp.update(generation=generation.pk, after_id=0, embedded=0)
        while ctx.checkpoint["phase"] == "build":
            with ctx.batch() as cp:
                count, last_id = knowledge.embed_step(
                    generation, embedder, cp["after_id"], settings.ACTIONS_EMBED_BATCH_SIZE
                )
                cp["after_id"], cp["embedded"] = last_id, cp["embedded"] + count
                if count == 0:
                    cp["phase"] = "switch"
                ctx.advance(count)
        if ctx.checkpoint["phase"] == "switch":
            with ctx.batch() as cp:
                generation.refresh_from_db()
                cp["replaced"] = knowledge.activate_generation(generation)
                cp["stale"] = knowledge.stale_generations(run.tenant_id, keep=generation.pk)
                cp["phase"] = "cleanup"
        while ctx.checkpoint["phase"] == "cleanup":
            with ctx.batch() as cp:
                deleted = knowledge.delete_embeddings_step(cp["stale"], settings.ACTIONS_BATCH_SIZE)
                cp["deleted"] += deleted
                if deleted == 0:
                    EmbeddingGeneration.objects.filter(
                        pk__in=cp["stale"], state=EmbeddingGeneration.State.BUILDING
                    ).update(state=EmbeddingGeneration.State.FAILED)
                    cp["phase"] = "done"
                ctx.advance(deleted)
        generation.refresh_from_db()
        return {
            "generation": generation.pk,
            "embedder": generation.embedder,
            "dimensions": generation.dimensions,
            "documents_embedded": ctx.checkpoint["embedded"],
            "replaced_generations": ctx.checkpoint.get("replaced", []),
            "old_vectors_deleted": ctx.checkpoint["deleted"],
        }

    def cleanup(self, ctx: RunContext) -> None:
        # The new generation never became active; the old one keeps serving.
        generation_id = ctx.checkpoint.get("generation")
        if generation_id and ctx.checkpoint.get("phase") == "build":
            knowledge.fail_generation(generation_id)


# Registered by ActionsConfig.ready(), in the order the tenant page shows them.
ACTIONS: tuple[type[Action], ...] = (PauseTenant, ResumeTenant, RotateKeys, PurgeConversations, ReembedDocuments)
