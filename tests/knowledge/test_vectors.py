from __future__ import annotations

import pytest
from django.db import connection

from opsdash.knowledge import vectors
from opsdash.knowledge.models import Embedding, EmbeddingGeneration
from tests.actions.conftest import make_documents

pytestmark = pytest.mark.django_db


def test_it_stores_vectors_with_pgvector_when_the_server_has_it(acme):
    if not vectors.pgvector_available(connection):
        pytest.skip("this server has no pgvector")
    assert vectors.column_kind(connection) == vectors.VECTOR
    generation = EmbeddingGeneration.objects.create(tenant=acme, embedder="t", dimensions=3)
    (doc,) = make_documents(acme, 1)
    Embedding.objects.create(tenant=acme, generation=generation, document=doc, vector=[0.5, 0.25, 0])
    assert Embedding.objects.get().vector == [0.5, 0.25, 0.0]


def test_it_falls_back_to_a_real_array_column():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE plain_vectors (id int, vector real[])")
        cursor.execute("INSERT INTO plain_vectors VALUES (1, %s)", [[0.5, 0.25, 0.0]])
        cursor.execute("SELECT vector FROM plain_vectors")
        stored = cursor.fetchone()[0]
    assert vectors.column_kind(connection, "plain_vectors", "vector") == vectors.ARRAY
    assert vectors.parse_vector(stored) == [0.5, 0.25, 0.0]


def test_it_reads_the_text_form_of_each_column_kind():
    assert vectors.parse_vector("[0.5,0,-1.25]") == [0.5, 0.0, -1.25]
    assert vectors.parse_vector("{0.5,0,-1.25}") == [0.5, 0.0, -1.25]


def test_it_copies_vectors_in_binary_into_either_column_kind():
    import numpy as np

    matrix = np.array([[0.5, 0.0, -1.25], [1.0, 2.0, 3.0]], dtype=np.float32)
    kinds = [vectors.ARRAY] + ([vectors.VECTOR] if vectors.has_pgvector(connection) else [])
    for kind in kinds:
        column = "vector" if kind == vectors.VECTOR else "real[]"
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TEMP TABLE copied (a bigint, b bigint, v {column})")
            with cursor.copy("COPY copied (a, b, v) FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(vectors.binary_copy([(1, 2), (3, 4)], matrix, kind))
            cursor.execute("SELECT a, b, v FROM copied ORDER BY a")
            rows = [(a, b, vectors.parse_vector(v)) for a, b, v in cursor.fetchall()]
            cursor.execute("DROP TABLE copied")
        assert rows == [(1, 2, [0.5, 0.0, -1.25]), (3, 4, [1.0, 2.0, 3.0])], kind
