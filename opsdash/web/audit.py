from __future__ import annotations

import csv
import json
from datetime import timedelta
from typing import cast

from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.functional import cached_property
from django.views.decorators.http import require_GET

from opsdash.accounts import access
from opsdash.accounts import selectors as account_reads
from opsdash.accounts.access import has_role, require_role
from opsdash.accounts.models import Role
from opsdash.audit import checkpoints, selectors
from opsdash.audit.forms import AuditFilterForm
from opsdash.audit.models import AuditEvent
from opsdash.audit.services import record_event
from opsdash.lib.csvsafe import safe_row
from opsdash.web.filters import query_detail

KNOWN_ACTIONS = [
    "login.success", "login.failure", "logout",
    "user.create", "user.role_change", "user.deactivate", "user.reactivate",
    "user.password_link", "user.password_set",
    "token.create", "token.revoke",
    "audit.export", "audit.rekey",
]  # fmt: skip


def _filtered(request: HttpRequest) -> tuple[AuditFilterForm, QuerySet[AuditEvent]]:
    reader = access.audit_reader(request.user)
    events = selectors.visible_events(reader)
    # Only the kinds of event this user can see: others' would tell of things out of reach.
    actions = sorted(set(KNOWN_ACTIONS) | set(selectors.event_kinds(reader)))
    form = AuditFilterForm(request.GET or None, tenants=account_reads.tenant_list(request.user), actions=actions)
    if form.is_bound and form.is_valid():
        events = form.apply(events)
    elif form.is_bound:
        events = events.none()
    return form, events


class CappedPaginator(Paginator):
    """Counts at most CAP events: an exact count of a long trail reads all of it on every page
    view, and nobody pages through more than 200 pages (filters narrow it instead)."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return selectors.count_at_most(cast(QuerySet[AuditEvent], self.object_list), self.CAP + 1)

    @property
    def capped(self) -> bool:
        return self.count > self.CAP


def _touched(event: AuditEvent, slugs: dict[int, str]) -> str:
    """The tenants an event touches, by slug ("all" for every tenant)."""
    if event.all_tenants:
        return "all"
    return " ".join(sorted(slugs.get(i, f"#{i}") for i in event.tenant_ids))


def _chain_badge() -> dict[str, object]:
    """The newest full check of the chain (hourly task or verify_audit), never a walk of the
    whole chain on a request."""
    verification, signed = checkpoints.latest_verification()
    if verification is None:
        return {"state": "unchecked"}
    if not signed:
        return {"state": "forged", "checked_at": verification.checked_at}
    stale = timezone.now() - verification.checked_at > timedelta(seconds=2 * settings.AUDIT_VERIFY_SECONDS)
    return {
        "state": "ok" if verification.ok else "broken",
        "row": verification.row_id,
        "reason": verification.reason,
        "rows": verification.rows,
        "checkpoints": verification.checkpoints,
        "warnings": verification.warnings,
        "checked_at": verification.checked_at,
        "stale": stale,
    }


@require_GET
@require_role(Role.VIEWER)
def audit_log(request: HttpRequest) -> HttpResponse:
    form, events = _filtered(request)
    page = CappedPaginator(events, 50).get_page(request.GET.get("page"))
    slugs = account_reads.tenant_slugs(request.user)
    for event in page.object_list:
        event.touched = _touched(event, slugs)  # type: ignore[attr-defined]
    context = {
        "form": form,
        "page": page,
        # The badge speaks of the whole trail (row numbers, counts): for admins of every tenant.
        "chain": _chain_badge() if access.has_perm(request.user, "audit.view_chain") else None,
        "own_only": not has_role(request.user, Role.ADMIN),
    }
    return render(request, "audit/audit_log.html", context)


class _Echo:
    def write(self, value: str) -> str:
        return value


@require_GET
@require_role(Role.VIEWER)
def audit_export(request: HttpRequest) -> StreamingHttpResponse:
    _, events = _filtered(request)
    record_event(
        "audit.export",
        actor=request.user,
        request=request,
        detail={"filters": query_detail(request)},
    )
    writer = csv.writer(_Echo())
    header = ["id", "ts", "actor", "action", "object_type", "object_id", "object", "tenant", "tenants", "ip",
              "before", "after", "detail", "hash"]  # fmt: skip
    slugs = account_reads.tenant_slugs(request.user)

    def rows():  # type: ignore[no-untyped-def]
        yield writer.writerow(header)
        for e in selectors.in_id_order(events, chunk_size=2000):
            # Names, labels and JSON come from people: a cell must never run as a formula.
            yield writer.writerow(safe_row([
                e.id, e.ts.isoformat(), e.actor_label, e.action, e.object_type, e.object_id, e.object_label,
                e.tenant.slug if e.tenant else "", _touched(e, slugs), e.ip_address or "", json.dumps(e.before),
                json.dumps(e.after), json.dumps(e.detail), e.hash,
            ]))  # fmt: skip

    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="opsdash-audit-{timezone.now():%Y%m%d-%H%M}.csv"'
    return response
