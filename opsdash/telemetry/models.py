from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    """Last time a periodic task ran; proves a worker consumes the broker."""

    name = models.CharField(max_length=50, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"
