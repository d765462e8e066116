"""Embedders turn document texts into vectors.

- ``hashing`` (the default) needs no download and no network: tokens are hashed into a
  fixed number of dimensions with a sign bit (the "hashing trick"), then the vector is
  L2-normalised. The same text always gives the same vector, on every machine.
- ``sentence-transformers`` runs a local model; the package is an optional extra and
  is imported only when this embedder is used.
- ``openai`` calls an OpenAI-compatible ``/embeddings`` endpoint (URL and key from
  settings) with the standard library's HTTP client and a timeout.
"""

from __future__ import annotations

import itertools
import json
import re
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from django.conf import settings


class EmbedderError(Exception):
    """The embedder could not produce vectors; the message says why."""


class Embedder(Protocol):
    name: str
    dimensions: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text, ``dimensions`` columns, float32."""
        ...


_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    def __init__(self, dimensions: int | None = None) -> None:
        self.dimensions = dimensions or settings.EMBEDDINGS_DIMENSIONS
        self.name = f"hashing-{self.dimensions}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows: list[int] = []
        hashes: list[int] = []
        for row, text in enumerate(texts):
            tokens = _TOKEN.findall(text.lower())
            # Unigrams and bigrams: word order carries a little meaning too.
            features = tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]
            # crc32 is deterministic across processes (Python's hash() is salted per run).
            hashes.extend(zlib.crc32(feature.encode()) for feature in features)
            rows.extend([row] * len(features))
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        if hashes:
            codes = np.asarray(hashes, dtype=np.uint32)
            signs = np.where((codes >> 31) & 1, -1.0, 1.0).astype(np.float32)
            np.add.at(out, (np.asarray(rows), codes % self.dimensions), signs)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out


class SentenceTransformerEmbedder:
    def __init__(self, model_name: str | None = None) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise EmbedderError(
                "sentence-transformers is not installed; pip install sentence-transformers to use this embedder."
            ) from None
        self.model_name = model_name or settings.SENTENCE_TRANSFORMERS_MODEL
        try:
            self._model = SentenceTransformer(self.model_name)
        except Exception as exc:  # any load failure is reported the same way
            raise EmbedderError(f"could not load the sentence-transformers model {self.model_name!r}: {exc}") from exc
        self.dimensions = int(self._model.get_sentence_embedding_dimension())
        self.name = f"sentence-transformers:{self.model_name}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)


class HttpEmbedder:
    """An OpenAI-compatible embeddings endpoint: POST {"model", "input": [...]}."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self.url = url if url is not None else settings.EMBEDDINGS_URL
        if not self.url:
            raise EmbedderError("no embeddings endpoint is configured (set OPSDASH_EMBEDDINGS_URL).")
        if not self.url.startswith(("http://", "https://")):
            raise EmbedderError(f"the embeddings URL must start with http:// or https://, not {self.url[:20]!r}.")
        self.api_key = api_key if api_key is not None else settings.EMBEDDINGS_API_KEY
        self.model = model or settings.EMBEDDINGS_MODEL
        self.timeout = timeout or settings.EMBEDDINGS_TIMEOUT_SECONDS
        self.name = f"openai:{self.model}"
        self.dimensions = 0  # known after the first answer

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        body = json.dumps({"model": self.model, "input": list(texts)}).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                payload: Any = json.load(response)
        except urllib.error.HTTPError as exc:
            raise EmbedderError(f"the embeddings endpoint answered HTTP {exc.code}.") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise EmbedderError(f"the embeddings endpoint could not be reached: {exc}") from exc
        except ValueError as exc:
            raise EmbedderError("the embeddings endpoint did not answer with JSON.") from exc
        try:
            rows = sorted(payload["data"], key=lambda item: item["index"])
            vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise EmbedderError("the embeddings endpoint's answer has no data[].embedding list.") from exc
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise EmbedderError(f"asked for {len(texts)} embeddings, got {len(vectors)}.")
        if self.dimensions and vectors.shape[1] != self.dimensions:
            raise EmbedderError(f"the endpoint changed dimensions from {self.dimensions} to {vectors.shape[1]}.")
        self.dimensions = int(vectors.shape[1])
        return vectors


EMBEDDERS = {
    "hashing": ("Feature hashing (built in, no download)", HashingEmbedder),
    "sentence-transformers": ("sentence-transformers (local model)", SentenceTransformerEmbedder),
    "openai": ("OpenAI-compatible endpoint", HttpEmbedder),
}
DEFAULT_EMBEDDER = "hashing"


def get_embedder(key: str) -> Embedder:
    if key not in EMBEDDERS:
        raise EmbedderError(f"unknown embedder {key!r}; choose one of {', '.join(EMBEDDERS)}.")
    return EMBEDDERS[key][1]()


def unavailable_reason(key: str) -> str | None:
    """Why ``key`` cannot be used here, checked without loading a model; None when usable."""
    if key == "sentence-transformers":
        import importlib.util

        if importlib.util.find_spec("sentence_transformers") is None:
            return "sentence-transformers is not installed on this server."
    if key == "openai" and not settings.EMBEDDINGS_URL:
        return "no embeddings endpoint is configured (OPSDASH_EMBEDDINGS_URL)."
    return None
