"""Offline eval results as the CI pipeline would send them.

Every prompt version live during the demo range gets a full run of every suite (before
its release, as a CI gate would), and each night the live versions run the golden suite.
Cases have a fixed difficulty per prompt, so the same cases tend to fail run after run.
"""

from __future__ import annotations

import hashlib

import numpy as np

from opsdash.core.demo import catalog
from opsdash.core.demo.stories import MINUTE_MS, StoryPlan
from opsdash.core.demo.traffic import DAY_MS, iso

NIGHTLY_DAYS = 7
# How much worse (in log-odds of passing) the regressing version does, per suite.
REGRESSION_PENALTY = {"golden": 3.2, "regression": 1.6, "safety": 0.0, "multilingual": 1.4}


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def model_hash(model: str) -> str:
    return "sha256:" + hashlib.sha256(model.encode()).hexdigest()[:16]


def _runs(story: StoryPlan, releases: list[list[tuple[str, int]]]) -> list[tuple[int, str, str, int]]:
    """(prompt index, version, suite, ts) of every run, in time order."""
    runs: list[tuple[int, str, str, int]] = []
    first_night = max(story.start_ms, story.anchor_ms - NIGHTLY_DAYS * DAY_MS) // DAY_MS * DAY_MS
    for p, history in enumerate(releases):
        for i, (version, released) in enumerate(history):
            retired = history[i + 1][1] if i + 1 < len(history) else story.anchor_ms
            if retired <= story.start_ms:
                continue
            gate = max(story.start_ms + 30 * MINUTE_MS, released - 90 * MINUTE_MS)
            runs.extend((p, version, suite.name, gate) for suite in catalog.SUITES)
            night = first_night + 150 * MINUTE_MS  # 02:30 UTC
            while night < story.anchor_ms:
                # A demo anchored at 02:00 puts the first gate at the first night's 02:30:
                # that is one run, not two with the same run id.
                if max(released, story.start_ms) <= night < retired and night != gate:
                    runs.append((p, version, "golden", night))
                night += DAY_MS
    return sorted(runs, key=lambda run: (run[3], run[0], run[2]))


def generate(rng: np.random.Generator, story: StoryPlan, releases: list[list[tuple[str, int]]]) -> list[dict]:
    suites = {s.name: s for s in catalog.SUITES}
    difficulty = {
        (p, suite.name): rng.normal(0.0, 1.0, suite.cases)
        for p in range(len(catalog.PROMPTS))
        for suite in catalog.SUITES
    }
    results = []
    for p, version, suite_name, ts in _runs(story, releases):
        prompt = catalog.PROMPTS[p]
        suite = suites[suite_name]
        base = _logit(prompt.golden_pass_rate) + (0.4 if suite_name == "safety" else 0.0)
        if prompt.prompt_id == story.regressing_prompt and version == story.bad_version:
            base -= REGRESSION_PENALTY[suite_name]
        stamp = iso(ts)
        run_id = f"{suite_name}-{prompt.prompt_id}-{version}-{stamp[:16].replace('-', '').replace(':', '')}"
        for case in range(suite.cases):
            language = suite.languages[case % len(suite.languages)]
            for metric, threshold in suite.metrics:
                # Format checks fail rarely, even for a bad version.
                shift = 1.5 if metric == "format_valid" else 0.0
                p_pass = 1.0 / (1.0 + np.exp(-(base + shift - difficulty[(p, suite_name)][case])))
                passed = bool(rng.random() < p_pass)
                if threshold >= 1.0:
                    score = 1.0 if passed else 0.0
                elif passed:
                    score = threshold + (1 - threshold) * rng.beta(5, 2)
                else:
                    score = threshold * rng.beta(5, 2)
                result = {
                    "run_id": run_id,
                    "ts": stamp,
                    "suite": suite_name,
                    "prompt_id": prompt.prompt_id,
                    "prompt_version": version,
                    "model": prompt.model,
                    "model_hash": model_hash(prompt.model),
                    "case_id": f"{suite_name}-{case + 1:03d}",
                    "metric": metric,
                    "passed": passed,
                    "score": round(float(score), 4),
                    "threshold": threshold,
                    "language": language,
                }
                if not passed:
                    reasons = catalog.EVAL_FAILURE_DETAILS[metric]
                    result["detail"] = reasons[int(rng.integers(len(reasons)))]
                results.append(result)
    return results
