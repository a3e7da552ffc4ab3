"""The layer order in pyproject.toml ([tool.importlinter]) holds: no module imports a layer above its own."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """Run import-linter's contracts on the ``ganzoo`` package under ``root``, with ``root``'s pyproject.toml."""
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(ROOT / "plugins")])}
    return subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)


def test_every_import_follows_the_layer_order_and_no_import_is_circular():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_import_from_a_higher_layer_breaks_the_check(tmp_path):
    shutil.copytree(ROOT / "ganzoo", tmp_path / "ganzoo", ignore=shutil.ignore_patterns("assets", "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    errors = tmp_path / "ganzoo" / "errors.py"
    errors.write_text(errors.read_text() + "\n\ndef _upward() -> None:\n    import ganzoo.cli  # noqa: F401\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "ganzoo.errors is not allowed to import ganzoo.cli" in result.stdout


def test_an_import_circle_breaks_the_check(tmp_path):
    shutil.copytree(ROOT / "ganzoo", tmp_path / "ganzoo", ignore=shutil.ignore_patterns("assets", "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    results = tmp_path / "ganzoo" / "bench" / "results.py"
    results.write_text(results.read_text() + "\n\ndef _circle() -> None:\n    from ganzoo.bench import report  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "No cycles are allowed in ganzoo.bench" in result.stdout
