from django.apps import AppConfig
from django.core.signals import setting_changed


class FicConfig(AppConfig):
    name = "fic_plugin.contrib.django"
    label = "fic_plugin"  # the permission is fic_plugin.manage_documents
    verbose_name = "Fatture in Cloud"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the system checks
        from .shop import reset

        def on_change(setting: str, **kwargs) -> None:
            if setting in ("FIC", "DATABASES"):
                reset()

        setting_changed.connect(on_change, weak=False, dispatch_uid="fic_plugin_settings")
