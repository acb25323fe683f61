"""The rooms of docs/architecture.md hold: import contracts, small modules, a product without
its stand-ins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
#: "A module over ~400 lines is usually two jobs" (STYLE.md); a little slack for a docstring.
MAX_LINES = 420


def _run(code: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, **kwargs)


def test_import_contracts_of_pyproject_hold():
    """Layers one way, fic/ a pure client, payload and money pure, no stand-ins in the product."""
    result = _run(["-c", "import sys; from importlinter.cli import lint_imports; "
                         "sys.exit(lint_imports(config_filename='pyproject.toml'))"])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "BROKEN" not in result.stdout and "KEPT" in result.stdout


def test_every_room_of_the_plugin_is_in_the_layers():
    """A module missing from the layers contract is checked by nothing: a new one gets its room."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    layers = next(c for c in config["tool"]["importlinter"]["contracts"] if c.get("containers") is None
                  and c["type"] == "layers")["layers"]
    listed = {name.strip().removeprefix("fic_plugin.") for layer in layers for name in layer.split("|")}
    package = SRC / "fic_plugin"
    rooms = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    rooms |= {p.name for p in package.iterdir() if (p / "__init__.py").exists()}
    assert sorted(rooms - listed) == []


def test_no_module_is_two_jobs():
    sizes = {str(p.relative_to(SRC)): len(p.read_text(encoding="utf-8").splitlines()) for p in SRC.rglob("*.py")}
    long = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert long == {}, f"split these modules (over {MAX_LINES} lines): {long}"


def test_the_plugin_loads_neither_the_demo_nor_the_sandbox():
    """What a host imports (the package, its manager, plugin, screens, worker) pulls in no stand-in."""
    modules = ["fic_plugin", "fic_plugin.integration", "fic_plugin.manager", "fic_plugin.plugin",
               "fic_plugin.web.app", "fic_plugin.jobs", "fic_plugin.documents", "fic_plugin.sending", "fic_plugin.cli"]
    code = ("import importlib, sys\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('fic_demo', 'fic_sandbox')))\n")
    result = _run(["-c", code])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_readme_settings_table_names_every_setting():
    import attrs

    from fic_plugin.settings import Settings

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("| key | Italian label |"):readme.index("`fic settings show` lists them all")]
    missing = [f.name for f in attrs.fields(Settings) if f"`{f.name}`" not in table]
    assert missing == []
