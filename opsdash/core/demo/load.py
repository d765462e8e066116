"""Writes a generated demo data set: tenants, keys, prices and documents directly, every
request event and eval result through the same ingest functions the HTTP API uses.

Everything is written in one transaction, so an interrupted load (Ctrl-C during the
first ``make demo``) leaves no tenants behind and the next ``seed_demo --if-empty``
starts over instead of keeping half a demo. Rollups are folded after the commit: the
fold only takes events of finished transactions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from opsdash.audit.services import record_event
from opsdash.core.demo.generator import BATCH_SIZE, DemoData
from opsdash.ingest.evals import ingest_evals
from opsdash.ingest.events import ingest_events
from opsdash.knowledge.models import Document
from opsdash.lib.hashing import issue_secret
from opsdash.telemetry.models import ModelPrice
from opsdash.telemetry.rollups import refresh_rollups
from opsdash.tenants.models import Tenant, TenantKey

Progress = Callable[[str], None]


class DemoLoadError(Exception):
    """The ingest refused demo records: a bug in the generator, never to be ignored."""


@dataclass
class LoadReport:
    tenants: int = 0
    keys: int = 0
    prices: int = 0
    documents: int = 0
    events: int = 0
    event_duplicates: int = 0
    eval_results: int = 0
    eval_duplicates: int = 0
    folded: int = 0


def _money(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))


def load(data: DemoData, progress: Progress) -> LoadReport:
    with transaction.atomic():
        report = write_catalog(data)
        progress(
            f"  tenants: {report.tenants}, keys: {report.keys}, model prices: {report.prices}, "
            f"documents: {report.documents}"
        )
        ingest_all(data, report, progress)
        record_seeding(data, report)
    progress("  rollups: folding the new events in")
    started = time.monotonic()
    report.folded = refresh_rollups()
    progress(f"  rollups: {report.folded:,} events folded in ({time.monotonic() - started:.1f}s)")
    if report.folded < report.events:
        # Another open transaction holds the fold back; beat's periodic refresh catches up.
        progress(f"  rollups: the worker folds the other {report.events - report.folded:,} events once it runs")
    return report


def write_catalog(data: DemoData) -> LoadReport:
    """Tenants, their keys (secrets are thrown away: the demo never uses them), model
    prices and knowledge-base documents."""
    report = LoadReport()
    now = timezone.now()
    with transaction.atomic():
        by_slug = {}
        for spec in data.tenants:
            tenant = Tenant.objects.create(
                slug=spec.slug,
                name=spec.name,
                redact_pii=spec.redact_pii,
                retention_days=spec.retention_days,
                daily_budget_usd=_money(spec.daily_budget_usd),
                monthly_budget_usd=_money(spec.monthly_budget_usd),
            )
            by_slug[spec.slug] = tenant
            for name, state in spec.keys:
                issued = issue_secret("odk")
                TenantKey.objects.create(
                    tenant=tenant,
                    name=name,
                    prefix=issued.prefix,
                    secret_hash=issued.secret_hash,
                    state=state,
                    expires_at=now + timedelta(days=3) if state == TenantKey.State.EXPIRING else None,
                    revoked_at=now - timedelta(days=20) if state == TenantKey.State.REVOKED else None,
                )
                report.keys += 1
        report.tenants = len(by_slug)
        for price in data.prices:
            _, created = ModelPrice.objects.get_or_create(
                model=price.model,
                provider=price.provider,
                effective_from=price.effective_from,
                defaults={
                    "input_usd_per_mtok": Decimal(str(price.input_usd_per_mtok)),
                    "output_usd_per_mtok": Decimal(str(price.output_usd_per_mtok)),
                },
            )
            report.prices += int(created)
        Document.objects.bulk_create(
            [
                Document(
                    tenant=by_slug[doc.tenant],
                    external_id=doc.external_id,
                    title=doc.title,
                    content=doc.content,
                    updated_at=doc.updated_at,
                )
                for doc in data.documents
            ],
            batch_size=1000,
        )
        report.documents = len(data.documents)
    return report


def _describe(rejected: list[Any]) -> str:
    shown = "; ".join(
        f"#{getattr(r, 'index', '?')} {getattr(r, 'field', '?')}: {getattr(r, 'error', r)}" for r in rejected[:5]
    )
    return f"{len(rejected)} rejected ({shown}{'; ...' if len(rejected) > 5 else ''})"


def _ingest(
    what: str,
    batches: Iterable[list[dict]],
    ingest: Callable[[list[Any]], Any],
    total: int,
    progress: Progress,
) -> tuple[int, int]:
    accepted = duplicates = done = 0
    next_report = 0
    started = time.monotonic()
    for batch in batches:
        result = ingest(batch)
        if result.rejected:
            raise DemoLoadError(f"{what}: the ingest refused demo records, {_describe(list(result.rejected))}")
        accepted += result.accepted
        duplicates += result.duplicates
        done += len(batch)
        if done >= next_report or done == total:
            progress(f"  {what}: {done:,} / {total:,} ({time.monotonic() - started:.1f}s)")
            next_report = done + max(total // 10, BATCH_SIZE)
    return accepted, duplicates


def ingest_all(data: DemoData, report: LoadReport, progress: Progress) -> None:
    report.events, report.event_duplicates = _ingest(
        "events", data.event_batches(), ingest_events, data.event_count, progress
    )
    results = data.eval_results
    eval_batches = (results[lo : lo + BATCH_SIZE] for lo in range(0, len(results), BATCH_SIZE))
    report.eval_results, report.eval_duplicates = _ingest(
        "eval results", eval_batches, ingest_evals, len(results), progress
    )


def record_seeding(data: DemoData, report: LoadReport) -> None:
    record_event(
        "demo.seeded",
        actor_label="seed_demo",
        detail={
            "seed": data.seed,
            "anchor": data.anchor.isoformat(),
            "tenants": report.tenants,
            "events": report.events,
            "eval_results": report.eval_results,
            "documents": report.documents,
        },
    )
