"""The default purpose list (查询目的); deployments edit it afterwards."""

from django.db import migrations

DEFAULTS = ("记账", "报税", "审计", "工商变更", "客户请求")


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]  # migration signature
    purpose = apps.get_model("access", "Purpose")
    for position, text in enumerate(DEFAULTS):
        purpose.objects.get_or_create(text=text, defaults={"position": position})


class Migration(migrations.Migration):
    dependencies = [("access", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
