"""The audit trail at scale: appends, verification, checkpoints and the audit page.

In a scratch database: 200 tenants, a global admin and an admin scoped to one tenant. Appends
2,000 events through record_event (the one write path: advisory lock, previous row, HMAC)
and times each; then bulk-loads the rest of N rows (default 200,000) signed by the same
chain code, a third touching one tenant, a third two tenants, a third none. Then times
verify_audit over the whole chain, one checkpoint, and the audit page (first page and the
tenant filter) and CSV export for both admins (20 requests each, p95 by nearest rank).

Last line: {"rows", "append_ms": {"p50", "p95"}, "verify_s", "verify_rows_per_s",
"checkpoint_ms", "pages": {"<who> <path>": {"p50_ms", "p95_ms"}}}.

    python bench/audit.py [--rows N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scratch import base_url, drop_database, log, recreate_database, setup_django

BENCH_DB = "opsdash_bench_audit"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p * len(ordered)) - 1))]


def bulk_load(count: int, tenant_ids: list[int], actor_id: int) -> None:
    """Append ``count`` signed rows after the present end of the chain, with COPY."""
    from django.conf import settings
    from django.db import connection

    from opsdash.audit.chain import GENESIS, row_hash
    from opsdash.audit.models import AuditEvent

    last = AuditEvent.objects.order_by("-id").values_list("id", "hash").first()
    prev = last[1] if last else GENESIS
    next_id = (last[0] if last else 0) + 1
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    with connection.cursor() as cursor:
        copy_sql = (
            "COPY audit_auditevent (id, ts, actor_id, actor_label, action, object_type, object_id, object_label, "
            "tenant_id, tenant_ids, all_tenants, ip_address, before, after, detail, prev_hash, hash) FROM STDIN"
        )
        with cursor.cursor.copy(copy_sql) as copy:
            for i in range(count):
                kind = i % 3
                touched = [] if kind == 2 else sorted({tenant_ids[i % len(tenant_ids)]} | (
                    {tenant_ids[(i * 7) % len(tenant_ids)]} if kind == 1 else set()))  # fmt: skip
                row = {
                    "id": next_id + i, "ts": start + dt.timedelta(seconds=i), "actor_id": actor_id,
                    "actor_label": "alice", "action": ("tenant.pause", "user.role_change", "login.success")[kind],
                    "object_type": "", "object_id": "", "object_label": f"object {i}",
                    "tenant_id": touched[0] if touched else None, "tenant_ids": touched, "all_tenants": False,
                    "ip_address": "127.0.0.1", "before": None, "after": {"n": i}, "detail": {},
                }  # fmt: skip
                digest = row_hash(prev, row, settings.AUDIT_KEY)
                copy.write_row([
                    row["id"], row["ts"], actor_id, "alice", row["action"], "", "", row["object_label"],
                    row["tenant_id"], "{" + ",".join(map(str, touched)) + "}", False, "127.0.0.1", None,
                    json.dumps(row["after"]), "{}", prev, digest,
                ])  # fmt: skip
                prev = digest
        cursor.execute("SELECT setval(pg_get_serial_sequence('audit_auditevent', 'id'), %s)", [next_id + count])
        cursor.execute("ANALYZE audit_auditevent")


def time_pages(client, user, label: str, paths: list[str]) -> dict[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    client.force_login(user)
    result = {}
    for path in paths:
        times = []
        for _ in range(20):
            started = time.perf_counter()
            response = client.get(path)
            if path.endswith(".csv"):
                b"".join(response.streaming_content)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        result[f"{label} {path}"] = {
            "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(percentile(times, 0.95), 1),
        }
        log(f"{label} {path}: {result[f'{label} {path}']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    server = base_url()
    url = recreate_database(server, BENCH_DB)
    try:
        setup_django(url)
        from django.core.management import call_command
        from django.test import Client

        from opsdash.accounts.models import Role, RoleAssignment
        from opsdash.audit import checkpoints
        from opsdash.audit.services import record_event
        from opsdash.tenants.models import Tenant

        tenants = Tenant.objects.bulk_create(Tenant(slug=f"t-{i:03d}", name=f"Tenant {i}") for i in range(200))
        from django.contrib.auth import get_user_model

        User = get_user_model()
        alice = User.objects.create_user("alice")
        RoleAssignment.objects.create(user=alice, role=Role.ADMIN)
        grace = User.objects.create_user("grace")
        RoleAssignment.objects.create(user=grace, role=Role.ADMIN).tenants.set([tenants[0]])

        appends = []
        for i in range(2000):
            started = time.perf_counter()
            record_event("tenant.pause", actor=alice, tenant=tenants[i % 200], detail={"n": i})
            appends.append((time.perf_counter() - started) * 1000)
        log(f"record_event: p50 {statistics.median(appends):.2f} ms, p95 {percentile(appends, 0.95):.2f} ms")
        started = time.perf_counter()
        bulk_load(args.rows - 2000, [t.pk for t in tenants], alice.pk)
        log(f"bulk-loaded {args.rows - 2000} signed rows in {time.perf_counter() - started:.1f} s")

        checkpoint_file = Path(tempfile.mkdtemp()) / "checkpoints.jsonl"
        started = time.perf_counter()
        checkpoint = checkpoints.write(checkpoint_file)
        checkpoint_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        out = io.StringIO()
        call_command("verify_audit", "--checkpoints", str(checkpoint_file), stdout=out)
        verify_s = time.perf_counter() - started
        log(out.getvalue().strip() + f" in {verify_s:.1f} s")
        checkpoint_file.unlink(missing_ok=True)

        client = Client()
        pages = {}
        pages |= time_pages(client, alice, "global admin", ["/audit/", "/audit/?tenant=t-000"])
        pages |= time_pages(client, grace, "scoped admin", ["/audit/", "/audit/?tenant=t-000", "/audit/export.csv"])
        summary = {
            "rows": checkpoint["rows"],
            "append_ms": {"p50": round(statistics.median(appends), 2), "p95": round(percentile(appends, 0.95), 2)},
            "verify_s": round(verify_s, 2),
            "verify_rows_per_s": round(checkpoint["rows"] / verify_s),
            "checkpoint_ms": round(checkpoint_ms, 1),
            "pages": pages,
        }
        print(json.dumps(summary))
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(server, BENCH_DB)


if __name__ == "__main__":
    main()
