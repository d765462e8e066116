from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest

from opsdash.knowledge import embedders
from opsdash.knowledge.embedders import EmbedderError, HashingEmbedder, HttpEmbedder, get_embedder


def test_it_embeds_deterministically_into_unit_vectors():
    embedder = HashingEmbedder(256)
    first = embedder.embed(["Reset your password", "", "billing refund policy"])
    again = HashingEmbedder(256).embed(["Reset your password", "", "billing refund policy"])
    assert first.shape == (3, 256)
    assert np.array_equal(first, again)
    assert np.allclose(np.linalg.norm(first[[0, 2]], axis=1), 1.0)
    assert not first[1].any()  # an empty text has no direction
    assert embedder.name == "hashing-256"


def test_it_puts_similar_texts_closer_than_unrelated_ones():
    a, b, c = HashingEmbedder(256).embed(
        ["how do I reset my password", "reset the password of my account", "quarterly invoice totals in euros"]
    )
    assert a @ b > a @ c


class Endpoint(BaseHTTPRequestHandler):
    status = 200
    requests: list[dict] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Endpoint.requests.append({"body": body, "auth": self.headers.get("Authorization")})
        if Endpoint.status != 200:
            self.send_response(Endpoint.status)
            self.end_headers()
            return
        data = [{"index": i, "embedding": [float(len(text)), 1.0, 0.0]} for i, text in enumerate(body["input"])]
        payload = json.dumps({"data": list(reversed(data)), "model": body["model"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    server = HTTPServer(("127.0.0.1", 0), Endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Endpoint.status, Endpoint.requests = 200, []
    yield f"http://127.0.0.1:{server.server_port}/v1/embeddings"
    server.shutdown()


def test_it_calls_an_openai_compatible_endpoint(endpoint):
    embedder = HttpEmbedder(url=endpoint, api_key="sk-test", model="tiny", timeout=5)
    vectors = embedder.embed(["ab", "abcd"])
    assert vectors.tolist() == [[2.0, 1.0, 0.0], [4.0, 1.0, 0.0]]  # reordered by index
    assert embedder.dimensions == 3
    assert Endpoint.requests == [{"body": {"model": "tiny", "input": ["ab", "abcd"]}, "auth": "Bearer sk-test"}]


def test_it_reports_an_endpoint_error_clearly(endpoint):
    Endpoint.status = 503
    with pytest.raises(EmbedderError, match="HTTP 503"):
        HttpEmbedder(url=endpoint, api_key="", model="tiny", timeout=5).embed(["x"])


def test_it_reports_an_unreachable_endpoint_clearly():
    with pytest.raises(EmbedderError, match="could not be reached"):
        HttpEmbedder(url="http://127.0.0.1:9/v1/embeddings", api_key="", model="m", timeout=1).embed(["x"])


def test_it_needs_an_endpoint_configured(settings):
    settings.EMBEDDINGS_URL = ""
    with pytest.raises(EmbedderError, match="OPSDASH_EMBEDDINGS_URL"):
        get_embedder("openai")
    assert embedders.unavailable_reason("openai") is not None


def test_it_says_when_sentence_transformers_is_missing(monkeypatch):
    import importlib.util

    if importlib.util.find_spec("sentence_transformers") is not None:
        pytest.skip("sentence-transformers is installed here")
    assert "not installed" in embedders.unavailable_reason("sentence-transformers")
    with pytest.raises(EmbedderError, match="not installed"):
        get_embedder("sentence-transformers")
