from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "baomi.access"
    label = "access"
    verbose_name = "Access governance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from baomi.access import checks  # noqa: F401 - registers the system checks
