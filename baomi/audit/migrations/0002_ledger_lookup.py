"""The ledger's filter index moves off the entry table (see `LedgerLookup`).

The existing entries are copied into it here, so no filtered listing misses one. The
entry table's two indexes are dropped by name rather than by `AlterField`, which on
SQLite would copy the whole table to a new one.
"""

import django.db.models.deletion
from django.db import migrations, models

# Django's names for them (the same on SQLite and PostgreSQL; `_like` only on the latter).
_OLD_INDEXES = (
    "audit_ledgerentry_actor_34817c4d",
    "audit_ledgerentry_actor_34817c4d_like",
    "audit_ledgerentry_client_id_8cabaa17",
    "audit_ledgerentry_client_id_8cabaa17_like",
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
                ("actor", models.CharField(db_index=True, max_length=150)),
                ("client_id", models.CharField(db_index=True, max_length=64, null=True)),
            ],
        ),
        migrations.RunSQL(
            "INSERT INTO audit_ledgerlookup (seq, actor, client_id) "
            "SELECT seq, actor, client_id FROM audit_ledgerentry",
            reverse_sql=migrations.RunSQL.noop,
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
                migrations.RunSQL(
                    [f'DROP INDEX IF EXISTS "{name}"' for name in _OLD_INDEXES],
                    reverse_sql=[
                        'CREATE INDEX "audit_ledgerentry_actor_34817c4d" '
                        'ON "audit_ledgerentry" ("actor")',
                        'CREATE INDEX "audit_ledgerentry_client_id_8cabaa17" '
                        'ON "audit_ledgerentry" ("client_id")',
                    ],
                ),
            ],
        ),
    ]
