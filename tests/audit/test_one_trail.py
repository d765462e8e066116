"""One audit trail: django-auditlog's unchained per-field history is gone, and the upgrade
drops the table it left in existing databases (audit 0004)."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.migrations.recorder import MigrationRecorder

drop_auditlog = importlib.import_module("opsdash.audit.migrations.0004_drop_auditlog_history")


def tables() -> list[str]:
    with connection.cursor() as cursor:
        return connection.introspection.table_names(cursor)


def test_it_keeps_no_second_history(db):
    assert not apps.is_installed("auditlog")
    assert ("audit", "0004_drop_auditlog_history") in MigrationRecorder(connection).applied_migrations()
    assert "auditlog_logentry" not in tables()


def test_the_upgrade_drops_the_table_an_older_install_left_with_its_foreign_keys(db):
    leaver = get_user_model().objects.create_user(username="leaver")
    with connection.cursor() as cursor:
        # What django-auditlog left: rows pointing at users and content types, and its
        # migrations recorded as applied.
        cursor.execute(
            "CREATE TABLE auditlog_logentry (id bigserial PRIMARY KEY, changes text,"
            " actor_id integer REFERENCES auth_user (id) DEFERRABLE INITIALLY DEFERRED,"
            " content_type_id integer NOT NULL REFERENCES django_content_type (id) DEFERRABLE INITIALLY DEFERRED)"
        )
        cursor.execute(
            "INSERT INTO auditlog_logentry (changes, actor_id, content_type_id)"
            " SELECT '{}', %s, id FROM django_content_type LIMIT 1",
            [leaver.pk],
        )
        cursor.execute("INSERT INTO django_migrations (app, name, applied) VALUES ('auditlog', '0001_initial', now())")
        # Foreign keys are checked now, as they were long before an upgrade (and for the rest
        # of this test's transaction: the DELETE below is checked at once too).
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

        # Django no longer knows this foreign key, so it cannot clear it: the user cannot go.
        with pytest.raises(IntegrityError), transaction.atomic():
            cursor.execute("DELETE FROM auth_user WHERE id = %s", [leaver.pk])

        cursor.execute(drop_auditlog.DROP_AUDITLOG)
        assert "auditlog_logentry" not in tables()
        cursor.execute("SELECT count(*) FROM django_migrations WHERE app = 'auditlog'")
        assert cursor.fetchone()[0] == 0
        # The user it pointed at can go now without a foreign key in the way.
        cursor.execute("DELETE FROM auth_user WHERE id = %s", [leaver.pk])
        # Running it again (a database that never had the table) changes nothing.
        cursor.execute(drop_auditlog.DROP_AUDITLOG)
