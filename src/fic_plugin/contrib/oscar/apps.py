from django.apps import AppConfig


class FicOscarConfig(AppConfig):
    name = "fic_plugin.contrib.oscar"
    label = "fic_oscar"
    verbose_name = "Fatture in Cloud for Oscar"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from .signals import connect

        connect()
