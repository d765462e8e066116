"""The demo data set as a pure function of (seed, anchor, sizes).

Nothing here touches the database, the clock or the global random state: the same
arguments give the same tenants, events, eval results and documents, byte for byte.
Each part draws from its own stream spawned from the seed, so changing how one part
samples leaves the others as they were.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from opsdash.core.demo import catalog, evals, stories, tenants, traffic
from opsdash.core.demo.stories import StoryPlan
from opsdash.core.demo.tenants import DocumentSpec, TenantSpec
from opsdash.core.demo.traffic import DAY_MS, EventTable

BATCH_SIZE = 5_000
# Smallest over-spend that reads as a story, whatever the traffic volume.
MIN_RUNAWAY_USD = 20.0


@dataclass(frozen=True)
class DemoSizes:
    tenants: int = 12
    days: int = 30
    # Sized so the first `make demo` loads in well under a minute on two cores: folding
    # events into the rollups costs about 0.25 ms of database time per event.
    events: int = 100_000


@dataclass(frozen=True)
class PriceSpec:
    model: str
    provider: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    effective_from: datetime


@dataclass
class DemoData:
    seed: int
    anchor: datetime
    sizes: DemoSizes
    story: StoryPlan
    tenants: list[TenantSpec]
    prices: list[PriceSpec]
    documents: list[DocumentSpec]
    events: EventTable
    eval_results: list[dict]
    budget_facts: dict[str, float] = field(default_factory=dict)

    @property
    def slugs(self) -> list[str]:
        return [t.slug for t in self.tenants]

    @property
    def event_count(self) -> int:
        return len(self.events)

    def event_batches(self, size: int = BATCH_SIZE) -> Iterator[list[dict]]:
        prefix = f"demo{self.seed}-"
        for lo in range(0, len(self.events), size):
            yield traffic.records(self.events, self.slugs, prefix, lo, min(lo + size, len(self.events)))

    def event_records(self) -> list[dict]:
        return [event for batch in self.event_batches() for event in batch]

    def summary(self) -> list[str]:
        return stories.summary(self.story, self.slugs, self.budget_facts)


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def generate(seed: int, anchor: datetime, sizes: DemoSizes) -> DemoData:
    if sizes.tenants < 1 or sizes.days < 1 or sizes.events < 1000:
        raise ValueError("the demo needs at least 1 tenant, 1 day and 1,000 events")
    if anchor.tzinfo is None:
        raise ValueError("anchor must be timezone-aware")
    anchor_ms = int(anchor.timestamp() * 1000)
    start_ms = anchor_ms - sizes.days * DAY_MS
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]
    traffic_rng, burst_rng, wave_rng, incident_rng, release_rng, budget_rng, eval_rng, doc_rng = streams

    story = stories.plan(start_ms, anchor_ms, sizes.tenants)
    shares = traffic.zipf_shares(sizes.tenants)
    tz_shifts = [catalog.tenant_profile(t).tz_shift_hours for t in range(sizes.tenants)]
    # The over-budget tenant's runaway job runs on its summarising route, so it uses it.
    forced = {story.budget_tenant: [catalog.ROUTE_INDEX[catalog.RUNAWAY_ROUTE]]}
    mixes = traffic.route_mixes(traffic_rng, sizes.tenants, forced)

    injected_estimate = max(60, sizes.events // 500) + max(60, sizes.events // 150)
    table = traffic.sample_background(
        traffic_rng,
        start_ms=start_ms,
        hours=sizes.days * 24,
        n=max(sizes.events - injected_estimate, sizes.events // 2),
        tenant_shares=shares,
        tz_shifts=tz_shifts,
        mixes=mixes,
    )
    stories.apply_incident(incident_rng, table, story)
    table.extend(stories.apply_burst(burst_rng, table, story, shares))
    table.extend(stories.apply_wave(wave_rng, sizes.events, story))

    releases = stories.prompt_releases(story)
    traffic.assign_versions(table, releases)
    stories.apply_regression(release_rng, table, story)

    before = tenants.spend(table, story.budget_tenant, story)
    spike = stories.runaway_spend(budget_rng, story, max(MIN_RUNAWAY_USD, 3 * before.max_other_day))
    table.extend(spike)
    traffic.assign_versions(table, releases)
    table.sort_by_time()

    tenant_specs = tenants.specs(sizes.tenants, table, story)
    after = tenants.spend(table, story.budget_tenant, story)
    budget_tenant = tenant_specs[story.budget_tenant]
    facts = {
        "day_spend": after.day,
        "month_spend": after.month,
        "daily_budget": budget_tenant.daily_budget_usd or 0.0,
        "monthly_budget": budget_tenant.monthly_budget_usd or 0.0,
    }
    # Prices in force well before the first event, from a midnight.
    effective = datetime.fromtimestamp((start_ms // DAY_MS - 30) * DAY_MS / 1000, UTC)
    prices = [
        PriceSpec(m.name, m.provider, m.input_usd_per_mtok, m.output_usd_per_mtok or 0.0, effective)
        for m in catalog.MODELS
        if m.input_usd_per_mtok is not None
    ]
    slugs = [t.slug for t in tenant_specs]
    return DemoData(
        seed=seed,
        anchor=anchor,
        sizes=sizes,
        story=story,
        tenants=tenant_specs,
        prices=prices,
        documents=tenants.documents(doc_rng, shares, slugs, story),
        events=table,
        eval_results=evals.generate(eval_rng, story, releases),
        budget_facts=facts,
    )
