"""manage.py ingest FILE: NDJSON through the same ingest as the API, with a summary."""

from __future__ import annotations

import io
import sys

import orjson
import pytest
from django.core.management import CommandError, call_command

from opsdash.telemetry.models import Event, RollupHour
from tests.telemetry.factories import make_event, ndjson_body


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("ingest", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db(transaction=True)
def test_it_loads_a_file_and_folds_the_rollups(tmp_path, acme, empty_raw):
    path = tmp_path / "events.ndjson"
    path.write_bytes(ndjson_body([make_event() for _ in range(5)]))
    out, err = run(str(path), "--batch-size", "2")
    assert "5 lines: 5 accepted, 0 duplicates, 0 rejected; 5 events folded" in out
    assert "lines/s" in err
    assert Event.objects.count() == 5
    assert RollupHour.objects.get(grouping=0).requests == 5


def test_it_fails_and_names_the_rejected_lines(tmp_path, acme):
    good = make_event()
    body = ndjson_body([good, make_event(status="meh")]) + b"{oops\n" + ndjson_body([good])
    path = tmp_path / "events.ndjson"
    path.write_bytes(body)
    err = io.StringIO()
    with pytest.raises(CommandError, match="2 lines were rejected"):
        call_command("ingest", str(path), stdout=io.StringIO(), stderr=err)
    assert "line 2: status: must be one of" in err.getvalue()
    assert "line 3: not valid JSON" in err.getvalue()
    assert Event.objects.filter(event_id=good["event_id"]).count() == 1


def test_it_reads_stdin(monkeypatch, acme):
    lines = b"".join(orjson.dumps(make_event()) + b"\n" for _ in range(3))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines)))
    out, _ = run("-")
    assert "3 lines: 3 accepted" in out


def test_it_says_when_the_file_cannot_be_read(tmp_path, db):
    with pytest.raises(CommandError, match="Cannot read"):
        run(str(tmp_path / "missing.ndjson"))
