"""Tenants with budgets set against their generated spend, their keys, and their documents."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from opsdash.core.demo import catalog
from opsdash.core.demo.stories import StoryPlan
from opsdash.core.demo.traffic import DAY_MS, HOUR_MS, EventTable, expected_costs

DOCUMENTS_PER_TENANT = 25
MONTHLY_HEADROOM = (1.4, 1.7, 2.5, 1.25, 3.0)


@dataclass(frozen=True)
class TenantSpec:
    slug: str
    name: str
    redact_pii: bool
    retention_days: int
    daily_budget_usd: float | None
    monthly_budget_usd: float | None
    # (name, state) of its API keys: every tenant has a production key; some rotated one.
    keys: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class DocumentSpec:
    tenant: str
    external_id: str
    title: str
    content: str
    updated_at: datetime


def _nice(value: float, *, up: bool) -> float:
    """Round to two significant digits, as a person would write a budget."""
    if value <= 0:
        return 10.0
    step = 10 ** (math.floor(math.log10(value)) - 1)
    return round((math.ceil(value / step) if up else math.floor(value / step)) * step, 2)


def _month_start_ms(day_ms: int) -> int:
    day = datetime.fromtimestamp(day_ms / 1000, UTC)
    return int(day.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)


@dataclass(frozen=True)
class Spend:
    day: float
    month: float
    max_other_day: float
    mean_day: float


def spend(table: EventTable, tenant: int, story: StoryPlan, costs: np.ndarray | None = None) -> Spend:
    """A tenant's spend on the budget day, month to date, and on other days, as the price
    table will compute it."""
    costs = expected_costs(table) if costs is None else costs
    cols = table.cols
    mine = (cols["tenant"] == tenant) & ~np.isnan(costs)
    ts, cost = cols["ts"][mine], costs[mine]
    day = story.budget_day_ms
    today = float(cost[(ts >= day) & (ts < day + DAY_MS)].sum())
    month = float(cost[(ts >= _month_start_ms(day)) & (ts < day + DAY_MS)].sum())
    days = ts // DAY_MS - story.start_ms // DAY_MS
    per_day = np.bincount(days[ts < day], weights=cost[ts < day])
    max_other = float(per_day.max()) if len(per_day) else 0.0
    span_days = max((day - story.start_ms) / DAY_MS, 1 / 24)
    return Spend(today, month, max_other, float(per_day.sum()) / span_days)


def specs(count: int, table: EventTable, story: StoryPlan) -> list[TenantSpec]:
    costs = expected_costs(table)
    result = []
    for t in range(count):
        profile = catalog.tenant_profile(t)
        s = spend(table, t, story, costs)
        daily: float | None
        monthly: float | None
        if t == story.budget_tenant:
            daily = _nice(s.day / 2, up=False)
            monthly = _nice(s.month * 0.8, up=False)
        elif t % 4 == 2:
            # Some tenants run without budgets.
            daily = monthly = None
        else:
            # The biggest tenant runs close to its daily budget; the others have some headroom.
            headroom = 1.25 if t == 0 else MONTHLY_HEADROOM[t % len(MONTHLY_HEADROOM)]
            daily = _nice(max(s.max_other_day, s.day) * headroom, up=True)
            monthly = _nice(max(s.mean_day * 31, s.month) * headroom, up=True)
        keys: tuple[tuple[str, str], ...] = (("production", "active"),)
        if t % 3 == 0:
            keys += (("staging", "active"),)
        if t % 5 == 1:
            keys += (("production (rotated)", "expiring"),)
        if t % 4 == 3:
            keys += (("leaked 2025-10", "revoked"),)
        result.append(
            TenantSpec(
                slug=profile.slug,
                name=profile.name,
                redact_pii=profile.redact_pii,
                retention_days=profile.retention_days,
                daily_budget_usd=daily,
                monthly_budget_usd=monthly,
                keys=keys,
            )
        )
    return result


def documents(rng: np.random.Generator, shares: np.ndarray, slugs: list[str], story: StoryPlan) -> list[DocumentSpec]:
    total = DOCUMENTS_PER_TENANT * len(slugs)
    counts = np.maximum(3, np.round(shares * total)).astype(int)
    docs = []
    for t, slug in enumerate(slugs):
        org = catalog.tenant_profile(t).name
        for k in range(counts[t]):
            topic = catalog.DOCUMENT_TOPICS[int(rng.integers(len(catalog.DOCUMENT_TOPICS)))]
            qualifier = catalog.DOCUMENT_QUALIFIERS[int(rng.integers(len(catalog.DOCUMENT_QUALIFIERS)))]
            sentences = rng.choice(len(catalog.DOCUMENT_SENTENCES), int(rng.integers(4, 9)), replace=True)
            paragraphs = []
            for chunk in np.array_split(sentences, 2):
                team = catalog.TEAMS[int(rng.integers(len(catalog.TEAMS)))]
                paragraphs.append(
                    " ".join(
                        catalog.DOCUMENT_SENTENCES[i].format(org=org, topic=topic.lower(), team=team) for i in chunk
                    )
                )
            updated = story.anchor_ms - int(rng.integers(1, 24 * 180)) * HOUR_MS
            docs.append(
                DocumentSpec(
                    tenant=slug,
                    external_id=f"kb-{k + 1:04d}",
                    title=f"{topic} ({qualifier})",
                    content="\n\n".join(paragraphs),
                    updated_at=datetime.fromtimestamp(updated / 1000, UTC),
                )
            )
    return docs
