from django.apps import AppConfig


class IngestConfig(AppConfig):
    """No tables of its own: it writes through the apps that own them. An app so that
    ``manage.py ingest`` is found."""

    name = "opsdash.ingest"
    label = "ingest"
