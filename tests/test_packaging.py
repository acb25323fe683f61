"""`pip install .` registers the plugin under the `shop` entry-point group."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_installed_package_exposes_the_shop_entry_point():
    from importlib.metadata import entry_points

    found = {ep.name: ep.value for ep in entry_points(group="shop")}
    assert found.get("fic") == "fic_plugin.plugin"


def test_a_built_wheel_declares_the_entry_points_and_ships_its_data(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("fic_plugin-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "[shop]" in entry_points and "fic = fic_plugin.plugin" in entry_points
    assert "fic = fic_plugin.cli:main" in entry_points
    assert any(n.startswith("fic_plugin/web/templates/") for n in names)
    # One distribution, three packages: `fic demo` and `fic sandbox` work from the wheel too.
    assert "fic_demo/server.py" in names and "fic_sandbox/server.py" in names
