from __future__ import annotations

import pytest

from opsdash.accounts.services import create_token
from tests.telemetry.factories import truncate_raw


@pytest.fixture
def ingest_secret(db) -> str:
    _, secret = create_token(acting_user=None, kind="ingest", name="producer")
    return secret


@pytest.fixture
def empty_raw(db):
    """Raw events and rollups start empty (other tests may have committed some)."""
    truncate_raw()
    yield
    truncate_raw()
