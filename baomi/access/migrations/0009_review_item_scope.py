"""Review items keep the scope of the grant they review (levels, categories, listed
documents). Items of earlier campaigns are given the scope of their grant where it still
exists (an ended grant's scope is not known any more: left empty)."""

from django.db import migrations, models


def fill_scopes(apps, schema_editor):  # type: ignore[no-untyped-def]
    ReviewItem = apps.get_model("access", "ReviewItem")  # noqa: N806
    sources = {
        "authorization": apps.get_model("access", "ClientAuthorization"),
        "query_request": apps.get_model("access", "QueryRequest"),
    }
    for kind, model in sources.items():
        items = ReviewItem.objects.filter(grant_kind=kind)
        grants = model.objects.in_bulk({i.grant_id for i in items.only("grant_id")})
        changed = []
        for item in items:
            grant = grants.get(item.grant_id)
            if grant is None:
                continue
            item.scope_levels = list(grant.scope_levels or [])
            item.scope_categories = list(grant.scope_categories or [])
            item.scope_document_ids = list(grant.scope_document_ids or [])
            changed.append(item)
        ReviewItem.objects.bulk_update(
            changed, ["scope_levels", "scope_categories", "scope_document_ids"], batch_size=500
        )


class Migration(migrations.Migration):
    dependencies = [("access", "0008_text_limits")]

    operations = [
        migrations.AddField(
            model_name="reviewitem",
            name="scope_categories",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="reviewitem",
            name="scope_document_ids",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="reviewitem",
            name="scope_levels",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.RunPython(fill_scopes, migrations.RunPython.noop),
    ]
