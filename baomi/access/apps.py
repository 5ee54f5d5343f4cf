from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "baomi.access"
    label = "access"
    verbose_name = "Access governance"
    default_auto_field = "django.db.models.BigAutoField"
