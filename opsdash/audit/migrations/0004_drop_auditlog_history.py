from django.db import migrations

# opsdash keeps one audit trail: audit_auditevent, hash-chained and checked by verify_audit.
# django-auditlog's per-field history (auditlog_logentry) was a second, unchained record
# that no page or check read and that the application could rewrite; the package is gone,
# so its table goes too. Left behind, its foreign keys to auth_user and django_content_type
# would be ones Django no longer knows about: deleting a user who appears in it, or a stale
# content type, would fail. Its migration records go with it, so that the history matches
# the schema. Databases created since never had the table; IF EXISTS makes this a no-op
# there. docs/deploy.md (upgrade notes) says how to keep a copy before upgrading.
DROP_AUDITLOG = """
DROP TABLE IF EXISTS auditlog_logentry;
DELETE FROM django_migrations WHERE app = 'auditlog';
"""


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0003_keyed_chain_tenant_reach'),
    ]

    # Going back does not bring the table back: nothing in opsdash would use it.
    operations = [migrations.RunSQL(DROP_AUDITLOG, reverse_sql=migrations.RunSQL.noop)]
