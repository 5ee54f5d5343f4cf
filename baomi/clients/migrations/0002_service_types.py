from django.db import migrations

SERVICE_TYPES = (
    ("bookkeeping", "代理记账", "Bookkeeping"),
    ("registration", "工商注册", "Company registration"),
    ("transfer", "公司转让", "Company transfer"),
    ("deregistration", "工商注销", "Deregistration"),
)


def forwards(apps, schema_editor):
    ServiceType = apps.get_model("clients", "ServiceType")
    for code, zh, en in SERVICE_TYPES:
        ServiceType.objects.update_or_create(code=code, defaults={"name_zh": zh, "name_en": en})


class Migration(migrations.Migration):
    dependencies = [("clients", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
