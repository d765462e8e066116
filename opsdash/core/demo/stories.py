"""The five stories hidden in the demo traffic: when they happen and how they bend the data.

Windows sit at fixed clock times on recent days (a latency incident yesterday 14:00 UTC,
an error burst two days ago at 09:20, ...), moved to the nearest day that fits when the
demo range is short, so the summary can name them and tests can find them.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import numpy as np

from opsdash.core.demo import catalog, texts
from opsdash.core.demo.traffic import DAY_MS, HOUR_MS, EventTable, apply_status_shape, fill_calls, iso

MINUTE_MS = 60_000
ERROR = catalog.STATUSES.index("error")
TIMEOUT = catalog.STATUSES.index("timeout")
BLOCKED = catalog.STATUSES.index("blocked")
# Attackers in the jailbreak wave use a handful of accounts; their user numbers are apart
# from ordinary users (0..9,999).
ATTACKERS = np.array([31_337, 31_338, 31_339, 40_404], dtype=np.int32)


@dataclass(frozen=True)
class Window:
    start_ms: int
    end_ms: int

    def contains(self, ts: np.ndarray) -> np.ndarray:
        return (ts >= self.start_ms) & (ts < self.end_ms)

    def describe(self) -> str:
        start, end = iso(self.start_ms), iso(self.end_ms)
        end_text = end[11:16] if start[:10] == end[:10] else f"{end[:10]} {end[11:16]}"
        return f"{start[:10]} {start[11:16]}–{end_text} UTC"


@dataclass(frozen=True)
class StoryPlan:
    start_ms: int
    anchor_ms: int
    incident: Window
    incident_route: str
    burst: Window
    burst_model: str
    wave: Window
    wave_tenant: int
    budget: Window
    budget_tenant: int
    release_ms: int
    regressing_prompt: str
    good_version: str
    bad_version: str

    @property
    def budget_day_ms(self) -> int:
        """Start of the day the over-budget tenant overspends ("today" for the demo)."""
        return self.budget.start_ms // DAY_MS * DAY_MS


def _window(start_ms: int, anchor_ms: int, *, days_back: int, clock_minutes: int, minutes: int) -> Window:
    """The window at that UTC clock time, days_back days before the anchor's day, moved to
    the nearest day inside [start, anchor) when it falls outside."""
    duration = minutes * MINUTE_MS
    at = anchor_ms // DAY_MS * DAY_MS - days_back * DAY_MS + clock_minutes * MINUTE_MS
    while at + duration > anchor_ms:
        at -= DAY_MS
    while at < start_ms:
        at += DAY_MS
    if at + duration > anchor_ms:
        # Too short a range for that clock time: take the middle of the range.
        at = (start_ms + (anchor_ms - start_ms - duration) // 2) // HOUR_MS * HOUR_MS
        at = max(at, start_ms)
    return Window(at, at + duration)


def plan(start_ms: int, anchor_ms: int, tenants: int) -> StoryPlan:
    today = anchor_ms // DAY_MS * DAY_MS
    # The runaway job burns money in the last hours of the anchor's day; right after
    # midnight there is no "today" yet, so it lands at the end of the day before.
    spike_start = max(today, anchor_ms - 5 * HOUR_MS) if anchor_ms > today else anchor_ms - 5 * HOUR_MS
    budget_tenant = 1 if tenants >= 2 else 0
    wave_tenant = 3 if tenants >= 4 else (tenants - 1 if tenants - 1 != budget_tenant else 0)
    # At least six hours in: the version it replaces must have run its evals in the range
    # (a range starting at 10:00 three days back released it at the very start).
    release = _window(start_ms + 6 * HOUR_MS, anchor_ms, days_back=3, clock_minutes=10 * 60, minutes=12 * 60)
    return StoryPlan(
        start_ms=start_ms,
        anchor_ms=anchor_ms,
        incident=_window(start_ms, anchor_ms, days_back=1, clock_minutes=14 * 60, minutes=120),
        incident_route=catalog.INCIDENT_ROUTE,
        burst=_window(start_ms, anchor_ms, days_back=2, clock_minutes=9 * 60 + 20, minutes=35),
        burst_model=catalog.BURST_MODEL,
        wave=_window(start_ms, anchor_ms, days_back=1, clock_minutes=60, minutes=180),
        wave_tenant=wave_tenant,
        budget=Window(max(spike_start, start_ms), anchor_ms),
        budget_tenant=budget_tenant,
        release_ms=release.start_ms,
        regressing_prompt=catalog.REGRESSING_PROMPT,
        good_version=catalog.REGRESSING_FROM,
        bad_version=catalog.REGRESSING_TO,
    )


def prompt_releases(story: StoryPlan) -> list[list[tuple[str, int]]]:
    """Per prompt (catalog order), its versions and release times, oldest first."""
    releases = []
    for prompt in catalog.PROMPTS:
        history = [(v.version, story.anchor_ms - int(v.released_days_ago * DAY_MS)) for v in prompt.versions]
        if prompt.prompt_id == story.regressing_prompt:
            history.append((story.bad_version, story.release_ms))
        releases.append(sorted(history, key=lambda item: item[1]))
    return releases


def _injected(rng: np.random.Generator, n: int, window: Window, tenants: np.ndarray, routes: np.ndarray) -> EventTable:
    table = EventTable.empty(n)
    table.cols["ts"] = rng.integers(window.start_ms, window.end_ms, n, dtype=np.int64)
    table.cols["tenant"] = tenants.astype(np.int16)
    table.cols["route"] = routes.astype(np.int16)
    return table


def _set_status(rng: np.random.Generator, table: EventTable, rows: np.ndarray, status: int) -> None:
    table.cols["status"][rows] = status
    table.cols["cache"][rows] = False
    apply_status_shape(rng, table, rows)


def apply_incident(rng: np.random.Generator, table: EventTable, story: StoryPlan) -> None:
    """An upstream slowdown: every uncached call on the route takes several times longer."""
    cols = table.cols
    hit = story.incident.contains(cols["ts"]) & (cols["route"] == catalog.ROUTE_INDEX[story.incident_route])
    slow = np.flatnonzero(hit & ~cols["cache"] & (cols["status"] == 0))
    factor = rng.lognormal(np.log(4.5), 0.3, len(slow))
    cols["latency"][slow] = np.round(cols["latency"][slow] * factor, 1)
    cols["ttft"][slow] = np.round(cols["ttft"][slow] * factor, 1)
    timeouts = slow[rng.random(len(slow)) < 0.06]
    _set_status(rng, table, timeouts, TIMEOUT)


def apply_burst(rng: np.random.Generator, table: EventTable, story: StoryPlan, tenant_shares: np.ndarray) -> EventTable:
    """One provider's model fails most calls for half an hour; clients retry, adding traffic."""
    model = catalog.MODEL_INDEX[story.burst_model]
    retries = max(60, len(table) // 500)
    routes = [i for i, r in enumerate(catalog.ROUTES) if any(m == story.burst_model for m, _ in r.models)]
    weights = np.array([catalog.ROUTES[i].weight for i in routes])
    extra = _injected(
        rng,
        retries,
        story.burst,
        rng.choice(len(tenant_shares), retries, p=tenant_shares),
        np.array(routes)[rng.choice(len(routes), retries, p=weights / weights.sum())],
    )
    fill_calls(rng, extra, np.arange(retries), force_model=model)
    for part in (table, extra):
        hit = np.flatnonzero(story.burst.contains(part.cols["ts"]) & (part.cols["model"] == model))
        failing = hit[rng.random(len(hit)) < 0.65]
        timeouts = failing[rng.random(len(failing)) < 0.35]
        _set_status(rng, part, np.setdiff1d(failing, timeouts), ERROR)
        _set_status(rng, part, timeouts, TIMEOUT)
    return extra


def apply_wave(rng: np.random.Generator, n_total: int, story: StoryPlan) -> EventTable:
    """Attackers hammer one tenant's chat with jailbreak and injection attempts for hours."""
    n = max(60, n_total // 150)
    routes = np.array([catalog.ROUTE_INDEX[p] for p in ("/chat/answer", "/chat/stream", "/agent/plan")])
    wave = _injected(rng, n, story.wave, np.full(n, story.wave_tenant), routes[rng.choice(3, n, p=[0.6, 0.25, 0.15])])
    # The attack ramps up, peaks and stops abruptly when the attackers give up.
    span = story.wave.end_ms - story.wave.start_ms
    wave.cols["ts"] = story.wave.start_ms + (rng.triangular(0, 0.75, 1, n) * (span - 1)).astype(np.int64)
    rows = np.arange(n)
    fill_calls(rng, wave, rows)
    cols = wave.cols
    cols["safety"] = np.array(texts.WAVE_SETS, dtype=np.int16)[rng.choice(len(texts.WAVE_SETS), n, p=texts.WAVE_SHARES)]
    cols["text"][:] = texts.TEXT_JAILBREAK
    cols["user"] = ATTACKERS[rng.choice(len(ATTACKERS), n, p=[0.5, 0.25, 0.15, 0.1])]
    _set_status(rng, wave, rows[rng.random(n) < 0.65], BLOCKED)
    return wave


def apply_regression(rng: np.random.Generator, table: EventTable, story: StoryPlan) -> None:
    """The bad prompt version fails in production too: more of its calls end in errors."""
    cols = table.cols
    bad = [i for i, version in enumerate(table.versions) if version == story.bad_version]
    mine = (cols["prompt"] == catalog.PROMPT_INDEX[story.regressing_prompt]) & np.isin(cols["version"], bad)
    rows = np.flatnonzero(mine & (cols["status"] == 0) & ~cols["cache"])
    _set_status(rng, table, rows[rng.random(len(rows)) < 0.08], ERROR)


def runaway_spend(rng: np.random.Generator, story: StoryPlan, target_usd: float) -> EventTable:
    """A tenant's batch job loops over whole documents with the priciest model."""
    model = catalog.MODELS[catalog.MODEL_INDEX[catalog.RUNAWAY_MODEL]]
    route = catalog.ROUTES[catalog.ROUTE_INDEX[catalog.RUNAWAY_ROUTE]]
    in_scale, out_scale = 80_000 / route.input_tokens_median, 1_200 / route.output_tokens_median
    # Mean cost of one call of a log-normal token count: median * exp(sigma^2 / 2).
    mean_cost = (
        80_000 * np.exp(0.3**2 / 2) * (model.input_usd_per_mtok or 0)
        + 1_200 * np.exp(0.3**2 / 2) * (model.output_usd_per_mtok or 0)
    ) / 1e6
    n = max(20, int(np.ceil(target_usd / mean_cost * 1.1)))
    spike = _injected(
        rng, n, story.budget, np.full(n, story.budget_tenant), np.full(n, catalog.ROUTE_INDEX[route.path])
    )
    fill_calls(
        rng,
        spike,
        np.arange(n),
        force_model=catalog.MODEL_INDEX[model.name],
        in_scale=in_scale,
        out_scale=out_scale,
        sigma=0.3,
        cacheable=False,
        healthy=True,
    )
    return spike


def _link(path: str, around: Window | None = None, margin_hours: int = 0, **params: str) -> str:
    """A dashboard URL with the filters the pages read (opsdash/web/filters.py); with
    ``around``, a custom range framing the window so the link keeps working later."""
    if around is not None:
        start = max(around.start_ms - margin_hours * HOUR_MS, 0) // HOUR_MS * HOUR_MS
        end = -(-(around.end_ms + margin_hours * HOUR_MS) // HOUR_MS) * HOUR_MS
        params.update({"range": "custom", "from": iso(start)[:16], "to": iso(end)[:16]})
    return f"{path}?{urlencode(params, safe='/:@')}"


def summary(story: StoryPlan, slugs: list[str], budget_facts: dict[str, float]) -> list[str]:
    """One line per story: what happened and where to see it."""
    wave_slug, budget_slug = slugs[story.wave_tenant], slugs[story.budget_tenant]
    day = iso(story.budget_day_ms)[:10]
    provider = catalog.MODELS[catalog.MODEL_INDEX[story.burst_model]].provider
    evals_range = Window(max(story.start_ms, story.release_ms - 4 * DAY_MS), story.anchor_ms)
    return [
        f"latency incident: route {story.incident_route}, {story.incident.describe()}, p95 several times normal"
        f" — see {_link('/latency/', story.incident, 6, route=story.incident_route)}",
        f"error burst: {story.burst_model} ({provider}) fails most calls, {story.burst.describe()}"
        f" — see the error rate by model at {_link('/latency/', story.burst, 2, by='model')}",
        f"over budget: tenant {budget_slug} spent ${budget_facts['day_spend']:,.2f} on {day} "
        f"(daily budget ${budget_facts['daily_budget']:,.2f}) and ${budget_facts['month_spend']:,.2f} this month "
        f"(monthly budget ${budget_facts['monthly_budget']:,.2f}) — see /tenants/{budget_slug}/ and "
        f"{_link('/cost/', tenant=budget_slug, range='30d')}",
        f"jailbreak wave: tenant {wave_slug}, {story.wave.describe()}, jailbreak and prompt_injection flags"
        f" — see {_link('/safety/', story.wave, 6, tenant=wave_slug)}",
        f"failing release: prompt {story.regressing_prompt} {story.bad_version} (released "
        f"{iso(story.release_ms)[:16].replace('T', ' ')} UTC) fails the golden suite where {story.good_version} "
        f"passed, and errors more in production — see {_link('/evals/', evals_range, prompt=story.regressing_prompt)}",
    ]
