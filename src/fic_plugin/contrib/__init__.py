"""Integrations with web frameworks: ``fic_plugin.contrib.django`` and ``fic_plugin.contrib.oscar``."""
