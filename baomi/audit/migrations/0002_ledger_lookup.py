"""The ledger's filter index moves off the entry table (see `LedgerLookup`).

The existing entries are copied into it here (before its indexes are built), so no
filtered listing misses one. The entry table's two indexes are dropped by name rather
than by `AlterField`, which on SQLite would copy the whole table to a new one.
"""

import django.db.models.deletion
from django.db import migrations, models

# Django's names for them (the same on SQLite and PostgreSQL; `_like` only on the latter).
_OLD_INDEXES = {
    "actor": "audit_ledgerentry_actor_34817c4d",
    "client_id": "audit_ledgerentry_client_id_8cabaa17",
}


def _drop_entry_indexes(apps, schema_editor):
    for name in _OLD_INDEXES.values():
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}_like"')


def _restore_entry_indexes(apps, schema_editor):
    pg = schema_editor.connection.vendor == "postgresql"
    for column, name in _OLD_INDEXES.items():
        schema_editor.execute(f'CREATE INDEX "{name}" ON "audit_ledgerentry" ("{column}")')
        if pg:
            schema_editor.execute(
                f'CREATE INDEX "{name}_like" ON "audit_ledgerentry" '
                f'("{column}" varchar_pattern_ops)'
            )


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="LedgerLookup",
            fields=[
                (
                    "entry",
                    models.OneToOneField(
                        db_column="seq",
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="lookup",
                        serialize=False,
                        to="audit.ledgerentry",
                    ),
                ),
                ("actor", models.CharField(max_length=150)),
                ("client_id", models.CharField(max_length=64, null=True)),
            ],
        ),
        migrations.RunSQL(
            "INSERT INTO audit_ledgerlookup (seq, actor, client_id) "
            "SELECT seq, actor, client_id FROM audit_ledgerentry",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AddIndex(
            model_name="ledgerlookup",
            index=models.Index(fields=["client_id", "entry"], name="audit_lookup_client_seq"),
        ),
        migrations.AddIndex(
            model_name="ledgerlookup",
            index=models.Index(fields=["actor", "entry"], name="audit_lookup_actor_seq"),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="ledgerentry",
                    name="actor",
                    field=models.CharField(max_length=150),
                ),
                migrations.AlterField(
                    model_name="ledgerentry",
                    name="client_id",
                    field=models.CharField(max_length=64, null=True),
                ),
            ],
            database_operations=[
                migrations.RunPython(_drop_entry_indexes, _restore_entry_indexes),
            ],
        ),
    ]
