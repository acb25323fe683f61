"""Build the plugin manager a shop uses to talk to fic-plugin.

Nothing is loaded at import time: a host (or a test) calls :func:`get_plugin_manager` and gets a
fresh, complete manager.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from importlib.metadata import entry_points

import pluggy

from . import hookspecs, plugin, sms

PROJECT = "shop"


def get_plugin_manager(plugins: Iterable[object] = (), *, load_entrypoints: bool = True) -> pluggy.PluginManager:
    """Return a manager with the specs, installed plugins, ``plugins`` and the built-ins.

    Third-party plugins installed under the ``shop`` entry-point group are loaded first; the
    built-in implementations are marked ``trylast`` so installed plugins win. ``check_pending``
    makes a misspelled hookimpl fail here, loudly, instead of being silently ignored. Finally
    ``shop_ready`` is fired (historic), which binds fic-plugin to this manager.
    """
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    if load_entrypoints:
        # What ``pm.load_setuptools_entrypoints(PROJECT)`` does, with the search made once.
        for name, installed in installed_plugins():
            if pm.get_plugin(name) is None and not pm.is_blocked(name) and not pm.is_registered(installed):
                pm.register(installed, name=name)
    for extra in plugins:
        # The shop's plugin may be installed under the entry point *and* passed here.
        if not pm.is_registered(extra):
            pm.register(extra)
    for builtin, name in ((plugin, "fic"), (sms, "fic-sms")):
        if not pm.is_registered(builtin) and pm.get_plugin(name) is None:
            pm.register(builtin, name=name)
    pm.check_pending()
    pm.hook.shop_ready.call_historic(kwargs={"pm": pm})
    return pm


@cache
def installed_plugins() -> tuple[tuple[str, object], ...]:
    """The plugins installed under the ``shop`` entry-point group, found and imported once per
    process: reading every installed distribution's metadata cost more than the rest of opening
    a shop, and a worker serving many shops opens them thousands of times."""
    return tuple((point.name, point.load()) for point in entry_points(group=PROJECT))
