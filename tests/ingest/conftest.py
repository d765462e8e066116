"""The ingest tests share the telemetry tests' fixtures: a producer's ingest token and
empty raw tables (the events they post land there)."""

from tests.telemetry.conftest import empty_raw, ingest_secret

__all__ = ["empty_raw", "ingest_secret"]
