"""Background request traffic as columns of NumPy arrays, and their rendering as Event dicts.

Sampling works on whole columns (one NumPy call per column) so 300,000 events take a
fraction of a second; dicts are only built batch by batch when they are ingested.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from opsdash.core.demo import catalog, texts

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
NONE = -1

# Share of the day's traffic per UTC hour: Europe's morning, then the US afternoon on top.
DIURNAL = np.array(
    [0.30, 0.25, 0.22, 0.22, 0.25, 0.32, 0.45, 0.62, 0.80, 0.92, 0.98, 1.00,
     1.00, 1.05, 1.12, 1.18, 1.15, 1.05, 0.92, 0.80, 0.68, 0.56, 0.45, 0.36]
)  # fmt: skip
# Monday .. Sunday.
WEEKDAY = np.array([1.0, 1.04, 1.05, 1.02, 0.93, 0.46, 0.40])

COLUMNS = {
    "ts": np.int64,
    "tenant": np.int16,
    "route": np.int16,
    "model": np.int16,
    "status": np.int8,
    "latency": np.float64,
    "ttft": np.float64,  # NaN: not reported
    "in_tok": np.int64,
    "out_tok": np.int64,
    "cache": np.bool_,
    "prompt": np.int16,  # NONE: no prompt
    "version": np.int16,  # index into EventTable.versions
    "cost": np.float64,  # NaN: left to the price table
    "safety": np.int16,  # index into texts.SAFETY_SETS, NONE: no flag
    "text": np.int8,  # texts.TEXT_*: what the input/output look like
    "user": np.int32,  # NONE: no end user and no conversation
    "trace": np.bool_,
    "noise": np.int64,  # picks templates and ids deterministically
}


@dataclass
class EventTable:
    """Column arrays of equal length; one row per event."""

    cols: dict[str, np.ndarray]
    versions: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.cols["ts"])

    @classmethod
    def empty(cls, n: int) -> EventTable:
        cols: dict[str, np.ndarray] = {name: np.zeros(n, dtype=dtype) for name, dtype in COLUMNS.items()}
        for name in ("ttft", "cost"):
            cols[name][:] = np.nan
        for name in ("prompt", "version", "safety", "user"):
            cols[name][:] = NONE
        return cls(cols)

    def extend(self, other: EventTable) -> None:
        self.cols = {name: np.concatenate([self.cols[name], other.cols[name]]) for name in COLUMNS}

    def sort_by_time(self) -> None:
        order = np.argsort(self.cols["ts"], kind="stable")
        self.cols = {name: column[order] for name, column in self.cols.items()}


def lognormal(rng: np.random.Generator, median: np.ndarray | float, sigma: float, n: int) -> np.ndarray:
    return np.asarray(median) * np.exp(rng.normal(0.0, sigma, n))


def zipf_shares(n: int, exponent: float = 1.1) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return weights / weights.sum()


def hourly_weights(start_ms: int, hours: int, tz_shift: int) -> np.ndarray:
    starts = start_ms + np.arange(hours, dtype=np.int64) * HOUR_MS
    hour_of_day = (starts // HOUR_MS) % 24
    # 1970-01-01 was a Thursday (weekday 3).
    weekday = ((starts // DAY_MS) + 3) % 7
    growth = 1.0 + 0.15 * np.arange(hours) / max(hours, 1)
    return DIURNAL[(hour_of_day - tz_shift) % 24] * WEEKDAY[weekday] * growth


def route_mixes(rng: np.random.Generator, tenants: int, forced: dict[int, list[int]]) -> np.ndarray:
    """Per tenant, the share of each route: tenants use different subsets of the product."""
    base = np.array([r.weight for r in catalog.ROUTES])
    mixes = np.empty((tenants, len(base)))
    always = [catalog.ROUTE_INDEX[catalog.INCIDENT_ROUTE], catalog.ROUTE_INDEX["/support/reply"]]
    for t in range(tenants):
        used = rng.random(len(base)) < 0.7
        used[always + forced.get(t, [])] = True
        mixes[t] = base * rng.lognormal(0.0, 0.5, len(base)) * used
        mixes[t] /= mixes[t].sum()
    return mixes


def sample_background(
    rng: np.random.Generator,
    *,
    start_ms: int,
    hours: int,
    n: int,
    tenant_shares: np.ndarray,
    tz_shifts: list[int],
    mixes: np.ndarray,
) -> EventTable:
    per_tenant = rng.multinomial(n, tenant_shares)
    ts_parts, tenant_parts = [], []
    for t, count in enumerate(per_tenant):
        weights = hourly_weights(start_ms, hours, tz_shifts[t])
        per_hour = rng.multinomial(count, weights / weights.sum())
        hour_index = np.repeat(np.arange(hours, dtype=np.int64), per_hour)
        ts_parts.append(start_ms + hour_index * HOUR_MS + rng.integers(0, HOUR_MS, count))
        tenant_parts.append(np.full(count, t, dtype=np.int16))
    table = EventTable.empty(n)
    cols = table.cols
    cols["ts"] = np.concatenate(ts_parts)
    cols["tenant"] = np.concatenate(tenant_parts)
    # Inverse-CDF sampling of each event's route from its tenant's mix, all at once.
    cdf = np.cumsum(mixes, axis=1)
    u = rng.random(n)
    route = (u[:, None] > cdf[cols["tenant"]]).sum(axis=1)
    cols["route"] = np.minimum(route, len(catalog.ROUTES) - 1).astype(np.int16)
    fill_calls(rng, table, np.arange(n))
    return table


def fill_calls(
    rng: np.random.Generator,
    table: EventTable,
    rows: np.ndarray,
    *,
    force_model: int | None = None,
    in_scale: float = 1.0,
    out_scale: float = 1.0,
    sigma: float = 0.6,
    cacheable: bool = True,
    healthy: bool = False,
) -> None:
    """Sample model, tokens, cache, status, latency, prompt and text for rows whose ts,
    tenant and route are set. The keywords let a story bend one of them."""
    cols = table.cols
    n = len(rows)
    route = cols["route"][rows]
    model = np.empty(n, dtype=np.int16)
    in_median = np.empty(n)
    out_median = np.empty(n)
    cache_rate = np.empty(n)
    streaming = np.zeros(n, dtype=bool)
    conversational = np.zeros(n, dtype=bool)
    prompt = np.full(n, NONE, dtype=np.int16)
    for r, profile in enumerate(catalog.ROUTES):
        sel = route == r
        k = int(sel.sum())
        if not k:
            continue
        names, shares = zip(*profile.models, strict=True)
        p = np.array(shares) / sum(shares)
        model[sel] = np.array([catalog.MODEL_INDEX[m] for m in names])[rng.choice(len(names), k, p=p)]
        in_median[sel] = profile.input_tokens_median
        out_median[sel] = profile.output_tokens_median
        cache_rate[sel] = profile.cache_rate
        streaming[sel] = profile.streaming
        conversational[sel] = profile.conversational
        if profile.prompt_id:
            prompt[sel] = catalog.PROMPT_INDEX[profile.prompt_id]
    if force_model is not None:
        model[:] = force_model
    cols["model"][rows] = model
    cols["prompt"][rows] = prompt
    in_tok = np.round(lognormal(rng, in_median * in_scale, sigma, n))
    out_tok = np.round(lognormal(rng, out_median * out_scale, sigma * 0.8, n))
    in_tok = np.clip(in_tok, 1, 190_000).astype(np.int64)
    out_tok = np.where(out_median > 0, np.clip(out_tok, 1, 16_000), 0).astype(np.int64)
    cache = (rng.random(n) < cache_rate) & cacheable

    ttft_median = np.array([m.ttft_median_ms for m in catalog.MODELS])[model] * (1 + in_tok / 20_000)
    per_token = np.array([m.ms_per_output_token for m in catalog.MODELS])[model]
    ttft = lognormal(rng, ttft_median, 0.35, n)
    latency = ttft + out_tok * per_token * lognormal(rng, 1.0, 0.2, n) + 12.0
    cached_latency = lognormal(rng, 25.0, 0.4, n)
    latency = np.where(cache, cached_latency, latency)
    ttft = np.where(cache, cached_latency * 0.8, ttft)

    status = rng.choice(len(catalog.STATUSES), n, p=catalog.STATUS_WEIGHTS).astype(np.int8)
    # The self-hosted model is the flakiest.
    flaky = (model == catalog.MODEL_INDEX["llama-3.1-70b"]) & (rng.random(n) < 0.02)
    status[flaky] = catalog.STATUSES.index("error")
    status[cache | healthy] = 0
    cols["in_tok"][rows] = in_tok
    cols["out_tok"][rows] = out_tok
    cols["cache"][rows] = cache
    cols["latency"][rows] = latency
    cols["ttft"][rows] = np.where(streaming, ttft, np.nan)
    cols["status"][rows] = status
    cols["noise"][rows] = rng.integers(0, 2**62, n)
    cols["trace"][rows] = rng.random(n) < 0.3
    apply_status_shape(rng, table, rows)

    # End users and their conversations on the chat-like routes.
    talking = conversational & (rng.random(n) < 0.15)
    cols["text"][rows[talking]] = texts.TEXT_NORMAL
    flagged = rng.random(n) < np.where(conversational, 0.006, 0.0015)
    kinds = rng.choice(len(texts.BACKGROUND_SETS), n, p=texts.BACKGROUND_SHARES)
    cols["safety"][rows[flagged]] = np.array(texts.BACKGROUND_SETS)[kinds[flagged]]
    cols["text"][rows[flagged]] = np.array(texts.BACKGROUND_TEXT)[kinds[flagged]]
    with_user = talking | flagged
    cols["user"][rows[with_user]] = rng.integers(0, 10_000, int(with_user.sum())).astype(np.int32)


def apply_status_shape(rng: np.random.Generator, table: EventTable, rows: np.ndarray) -> None:
    """Make latency, tokens and cost agree with each row's status."""
    cols = table.cols
    status = cols["status"][rows]
    n = len(rows)
    error, timeout, limited, blocked = (status == catalog.STATUSES.index(s) for s in catalog.STATUSES[1:])
    latency = cols["latency"][rows]
    latency = np.where(timeout, 30_000 + rng.exponential(1500, n), latency)
    latency = np.where(limited, lognormal(rng, 35.0, 0.3, n), latency)
    latency = np.where(blocked, lognormal(rng, 90.0, 0.3, n), latency)
    latency = np.where(error, latency * rng.uniform(0.1, 0.6, n), latency)
    failed = error | timeout | limited | blocked
    cols["latency"][rows] = np.round(latency, 1)
    ttft = cols["ttft"][rows]
    cols["ttft"][rows] = np.where(failed, np.nan, np.round(np.minimum(ttft, latency), 1))
    cols["out_tok"][rows] = np.where(failed, 0, cols["out_tok"][rows])
    # Never reached the provider: nothing billed.
    cols["in_tok"][rows] = np.where(limited | blocked, 0, cols["in_tok"][rows])
    # Served from the cache: the provider is not paid, whatever the tokens.
    cols["cost"][rows] = np.where(cols["cache"][rows], 0.0, np.nan)


def assign_versions(table: EventTable, releases: list[list[tuple[str, int]]]) -> None:
    """Set each row's prompt version to the one live at its time; releases[p] is ordered."""
    cols = table.cols
    versions: list[str] = []
    for p, history in enumerate(releases):
        sel = cols["prompt"] == p
        if not sel.any():
            continue
        times = np.array([at for _, at in history], dtype=np.int64)
        live = np.maximum(np.searchsorted(times, cols["ts"][sel], side="right") - 1, 0)
        offset = len(versions)
        versions.extend(version for version, _ in history)
        cols["version"][sel] = (live + offset).astype(np.int16)
    table.versions = versions


def expected_costs(table: EventTable) -> np.ndarray:
    """What the price table makes of each row (NaN for a model without a price)."""
    cols = table.cols
    price_in = np.array([np.nan if m.input_usd_per_mtok is None else m.input_usd_per_mtok for m in catalog.MODELS])
    price_out = np.array([np.nan if m.output_usd_per_mtok is None else m.output_usd_per_mtok for m in catalog.MODELS])
    computed = (cols["in_tok"] * price_in[cols["model"]] + cols["out_tok"] * price_out[cols["model"]]) / 1e6
    return np.where(np.isnan(cols["cost"]), computed, cols["cost"])


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def records(table: EventTable, tenant_slugs: list[str], id_prefix: str, lo: int, hi: int) -> list[dict]:
    """Event dicts (the ingest contract's shape) for rows lo..hi of a time-sorted table."""
    c = {name: column[lo:hi].tolist() for name, column in table.cols.items()}
    stamps = np.datetime_as_string(table.cols["ts"][lo:hi].astype("datetime64[ms]"), unit="ms").tolist()
    route_paths = [r.path for r in catalog.ROUTES]
    out = []
    for i in range(hi - lo):
        tenant = c["tenant"][i]
        model = catalog.MODELS[c["model"][i]]
        event = {
            "event_id": f"{id_prefix}{lo + i:07d}",
            "ts": stamps[i] + "+00:00",
            "tenant": tenant_slugs[tenant],
            "route": route_paths[c["route"][i]],
            "model": model.name,
            "provider": model.provider,
            "status": catalog.STATUSES[c["status"][i]],
            "latency_ms": c["latency"][i],
            "input_tokens": c["in_tok"][i],
            "output_tokens": c["out_tok"][i],
            "cache_hit": c["cache"][i],
        }
        if c["ttft"][i] == c["ttft"][i]:  # not NaN
            event["ttft_ms"] = c["ttft"][i]
        if c["cost"][i] == c["cost"][i]:
            event["cost_usd"] = c["cost"][i]
        prompt = c["prompt"][i]
        if prompt != NONE:
            event["prompt_id"] = catalog.PROMPTS[prompt].prompt_id
            event["prompt_version"] = table.versions[c["version"][i]]
        noise = c["noise"][i]
        if c["trace"][i]:
            event["trace_id"] = f"{noise:016x}{(noise * 0x9E3779B97F4A7C15) % 2**64:016x}"
        safety = c["safety"][i]
        if safety != NONE:
            event["safety"] = [dict(flag) for flag in texts.SAFETY_SETS[safety]]
        user = c["user"][i]
        if user != NONE:
            slug = tenant_slugs[tenant]
            event["user"] = f"user-{user:05d}@{slug}.example"
            # A user's calls within the same four hours form one conversation.
            event["conversation_id"] = f"cv-{slug}-{user:05d}-{c['ts'][i] // (4 * HOUR_MS)}"
            if c["text"][i]:
                event["input"], event["output"] = texts.render(c["text"][i], route_paths[c["route"][i]], noise)
        out.append(event)
    return out
