"""Every hook is documented in docs/hooks.md and has its own test_hook_<name>."""

import re
from pathlib import Path

import pytest

from fic_plugin.manager import get_plugin_manager

ROOT = Path(__file__).resolve().parents[1]


def hook_names() -> list[str]:
    pm = get_plugin_manager(load_entrypoints=False)
    return sorted(name for name in dir(pm.hook) if not name.startswith("_"))


@pytest.mark.parametrize("name", hook_names())
def test_hook_is_documented_with_its_signature(name):
    reference = (ROOT / "docs" / "hooks.md").read_text()
    assert re.search(rf"^### `{name}\(", reference, re.MULTILINE), f"docs/hooks.md has no section for {name}"


@pytest.mark.parametrize("name", hook_names())
def test_hook_has_a_test(name):
    sources = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    assert re.search(rf"def test_hook_{name}\b", sources), f"no test_hook_{name} in tests/"


def test_documented_signatures_match_the_specs():
    import inspect

    from fic_plugin import hookspecs

    reference = (ROOT / "docs" / "hooks.md").read_text()
    for name in hook_names():
        params = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
        assert f"### `{name}({params})" in reference, f"docs/hooks.md signature of {name} is not ({params})"


def test_a_misspelled_hookimpl_fails_loudly():
    from pluggy import PluginValidationError

    from fic_plugin import hookimpl

    class Typo:
        @hookimpl
        def order_payed(self, order):
            pass

    with pytest.raises(PluginValidationError):
        get_plugin_manager([Typo()], load_entrypoints=False)


def test_importing_the_package_loads_no_plugin():
    import subprocess
    import sys

    code = ("import sys, fic_plugin, fic_plugin.hookspecs;"
            "print(any(m.startswith(('fic_plugin.plugin', 'fic_sandbox', 'fic_demo'))"
            " for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
