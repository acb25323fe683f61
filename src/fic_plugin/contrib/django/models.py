"""No tables of the plugin live in Django's models: only the permission ``fic_plugin.manage_documents``."""

from django.db import models


class FicAccess(models.Model):
    """Holds the plugin's permission; it has no table (``managed = False``)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("manage_documents", "Can issue and manage Fatture in Cloud documents")]
        verbose_name = "Fatture in Cloud"
