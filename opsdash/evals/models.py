from __future__ import annotations

from django.db import models


class EvalResult(models.Model):
    """One metric of one case of one offline eval run, as sent by the eval pipeline."""

    run_id = models.CharField(max_length=128)
    ts = models.DateTimeField()
    suite = models.CharField(max_length=200)
    prompt_id = models.CharField(max_length=200)
    prompt_version = models.CharField(max_length=100)
    model = models.CharField(max_length=200)
    model_hash = models.CharField(max_length=128, blank=True)
    case_id = models.CharField(max_length=200)
    metric = models.CharField(max_length=100)
    passed = models.BooleanField()
    score = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    language = models.CharField(max_length=35, blank=True)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run_id", "case_id", "metric"], name="evalresult_unique_case_metric"),
        ]
        indexes = [
            models.Index(fields=["prompt_id", "prompt_version", "ts"]),
            models.Index(fields=["ts"]),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.case_id}/{self.metric}"


class EvalRunMetric(models.Model):
    """The results of one metric in one run, added up: what the evals pages and the overview
    read instead of every result. Kept by triggers on EvalResult (migration 0002), so every
    way results are written (the API, the ingest command, a bulk load) keeps it right.

    A run normally holds one prompt version, suite and model; they are part of the key so a
    run id reused across them is never mixed up.
    """

    pk = models.CompositePrimaryKey("prompt_id", "prompt_version", "run_id", "suite", "model", "metric")
    prompt_id = models.CharField(max_length=200)
    prompt_version = models.CharField(max_length=100)
    run_id = models.CharField(max_length=128)
    suite = models.CharField(max_length=200)
    model = models.CharField(max_length=200)
    metric = models.CharField(max_length=100)
    first_ts = models.DateTimeField()
    last_ts = models.DateTimeField()
    results = models.IntegerField()
    failures = models.IntegerField()

    class Meta:
        managed = False
        db_table = "evals_evalrunmetric"

    def __str__(self) -> str:
        return f"{self.run_id}/{self.metric}"
