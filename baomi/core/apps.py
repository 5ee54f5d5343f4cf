from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "baomi.core"
    label = "core"
    verbose_name = "Baomi core"
