from django.db import migrations


def forwards(apps, schema_editor):
    # The single sequencer row. Its state is initialised (with the configured hash) by
    # the first append, under the append lock.
    LedgerHead = apps.get_model("audit", "LedgerHead")
    LedgerHead.objects.get_or_create(
        pk=1, defaults={"size": 0, "state": b"", "last_leaf_hash": b"", "hash_name": ""}
    )


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
