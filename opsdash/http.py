"""JSON responses for the APIs: every error is {"error": ..., "detail": ...} with a 4xx."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse


def json_error(status: int, error: str, detail: Any = None) -> JsonResponse:
    return JsonResponse({"error": error, "detail": detail}, status=status)
