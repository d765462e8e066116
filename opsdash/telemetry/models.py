from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models

# The Heartbeat row the worker keeps fresh (opsdash.telemetry.tasks.heartbeat).
HEARTBEAT_KEY = "worker"


class Heartbeat(models.Model):
    """Last time a periodic task ran; proves a worker consumes the broker."""

    name = models.CharField(max_length=50, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"


class ModelPrice(models.Model):
    """Price of a model in USD per million tokens, in force from ``effective_from`` on.

    A blank provider applies to every provider of the model; a provider-specific price
    wins over it. Events without a cost_usd get theirs from the price in force at their ts.
    """

    model = models.CharField(max_length=200)
    provider = models.CharField(max_length=100, blank=True)
    input_usd_per_mtok = models.DecimalField(max_digits=12, decimal_places=6)
    output_usd_per_mtok = models.DecimalField(max_digits=12, decimal_places=6)
    effective_from = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "provider", "effective_from"], name="modelprice_unique_from"),
        ]
        ordering = ["model", "provider", "-effective_from"]

    def __str__(self) -> str:
        return f"{self.model}/{self.provider or '*'} from {self.effective_from:%Y-%m-%d}"


class Event(models.Model):
    """One LLM call, read-only through the ORM.

    The table is partitioned by day and written only by ``ingest.ingest_events`` (COPY);
    its DDL lives in migration 0002. ``xid`` is the writing transaction's id, the cursor
    from which rollups are folded.
    """

    id = models.BigIntegerField(primary_key=True)
    ts = models.DateTimeField()
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    event_id = models.CharField(max_length=128)
    route = models.CharField(max_length=200)
    model = models.CharField(max_length=200)
    provider = models.CharField(max_length=100, null=True)  # noqa: DJ001 - NULL is 'absent' in the COPY-written table
    prompt_id = models.CharField(max_length=200, null=True)  # noqa: DJ001 - NULL is 'absent' in the COPY-written table
    prompt_version = models.CharField(max_length=100, null=True)  # noqa: DJ001 - NULL is 'absent' in the COPY-written table
    status = models.CharField(max_length=16)
    latency_ms = models.FloatField()
    ttft_ms = models.FloatField(null=True)
    input_tokens = models.IntegerField()
    output_tokens = models.IntegerField()
    cost_usd = models.DecimalField(max_digits=20, decimal_places=10, null=True)
    cache_hit = models.BooleanField()
    conversation_id = models.CharField(max_length=200, null=True)  # noqa: DJ001 - NULL is 'absent' in the COPY-written table
    trace_id = models.CharField(max_length=128, null=True)  # noqa: DJ001 - NULL is 'absent' in the COPY-written table
    user_hash = models.CharField(max_length=64, null=True)  # noqa: DJ001 - NULL is 'absent' in the COPY-written table
    safety_count = models.SmallIntegerField()
    xid = models.BigIntegerField()

    class Meta:
        managed = False
        db_table = "telemetry_event"

    def __str__(self) -> str:
        return f"{self.event_id} @ {self.ts:%Y-%m-%d %H:%M:%S}"


class RollupBase(models.Model):
    """Aggregates of events per time bucket for one grouping (see ``rollups.GROUPINGS``).

    Dimensions outside the row's grouping hold '' (tenant_id 0). Histograms are sparse:
    sorted bucket indices of ``opsdash.lib.histogram`` and their counts.
    """

    pk = models.CompositePrimaryKey("grouping", "tenant_id", "bucket", "route", "model", "prompt_id", "prompt_version")
    grouping = models.SmallIntegerField()
    tenant_id = models.BigIntegerField()
    bucket = models.DateTimeField()
    route = models.TextField()
    model = models.TextField()
    prompt_id = models.TextField()
    prompt_version = models.TextField()
    requests = models.BigIntegerField()
    ok = models.BigIntegerField()
    errors = models.BigIntegerField()
    timeouts = models.BigIntegerField()
    rate_limited = models.BigIntegerField()
    blocked = models.BigIntegerField()
    cache_hits = models.BigIntegerField()
    input_tokens = models.BigIntegerField()
    output_tokens = models.BigIntegerField()
    cost_usd = models.DecimalField(max_digits=28, decimal_places=10)
    cost_unknown = models.BigIntegerField()
    latency_sum_ms = models.FloatField()
    safety_flags = models.BigIntegerField()
    latency_hist_idx = ArrayField(models.SmallIntegerField())
    latency_hist_cnt = ArrayField(models.IntegerField())
    ttft_hist_idx = ArrayField(models.SmallIntegerField())
    ttft_hist_cnt = ArrayField(models.IntegerField())

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.grouping}/{self.tenant_id}/{self.bucket:%Y-%m-%d %H:%M}"


class RollupMinute(RollupBase):
    class Meta:
        managed = False
        db_table = "telemetry_rollup_minute"


class RollupHour(RollupBase):
    class Meta:
        managed = False
        db_table = "telemetry_rollup_hour"


class RollupDay(RollupBase):
    class Meta:
        managed = False
        db_table = "telemetry_rollup_day"
