"""Finding evaluators: by registered name, by fitted name or by file path, and the list of all of them."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ganzoo.errors import PluginError, UnknownNameError, did_you_mean
from ganzoo.files import file_problem
from ganzoo.metrics.classifier import MAX_BYTES, fitted_evaluators, load_classifier
from ganzoo.metrics.errors import EvaluatorError, MetricsError
from ganzoo.metrics.evaluators import Evaluator
from ganzoo.registry import host

__all__ = ["list_evaluators", "load_evaluator"]


def list_evaluators() -> list[dict[str, Any]]:
    """Every evaluator that ``load_evaluator`` accepts by name: registered ones, then fitted ones."""
    table = host().table("evaluators")
    rows = [{"name": n, "kind": "registered", "description": table[n].description, "plugin": table[n].plugin,
             "dist": table[n].dist, "status": _status(table[n].obj)}
            for n in host().names("evaluators")]
    for name, rec in fitted_evaluators().items():
        acc = rec.get("heldout_accuracy")
        desc = f"classifier fitted on {rec.get('dataset')}" + (f", held-out accuracy {acc:.2%}" if acc else "")
        rows.append({"name": name, "kind": "fitted", "description": desc, "path": rec["path"],
                     "sha256": rec.get("sha256"), "status": f"file: {rec['path']}"})
    return rows


def _status(factory: Any) -> str:
    """A registered factory's own word on whether it can build its evaluator here ("ready" when it says nothing)."""
    status = getattr(factory, "status", None)  # Evaluator.status, e.g. inception-v3 looking for its weights
    if not callable(status):
        return "ready"
    try:
        return str(status())
    except Exception as exc:  # noqa: BLE001 - a plugin's bug must not break 'ganzoo evaluator list'
        return f"status unknown: {type(exc).__name__}: {exc}"


def load_evaluator(spec: "str | os.PathLike | Evaluator", **options: Any) -> Evaluator:
    """An evaluator by registered name (``options`` go to its factory), fitted name, or path to a ``.pt`` file."""
    if isinstance(spec, Evaluator):
        return spec
    name = str(spec)
    table = host().table("evaluators")
    if name in table:
        try:
            evaluator = table[name].obj(**options)
        except TypeError as exc:
            raise MetricsError(f"evaluator {name!r}: bad options {sorted(options)}: {exc}; drop them or pass "
                               "the options its factory takes") from None
        if not isinstance(evaluator, Evaluator):
            raise PluginError(f"evaluator {name!r} (plugin {table[name].plugin!r}) returned "
                              f"{type(evaluator).__name__}, not a ganzoo.metrics.Evaluator")
        return evaluator
    path = Path(name).expanduser()
    if path.suffix == ".pt" or os.sep in name:
        problem = file_problem(path, MAX_BYTES)
        if problem:
            raise EvaluatorError(f"evaluator file {str(path)!r}: {problem}; pass a file written by 'ganzoo evaluator "
                                 "fit', or a registered name ('ganzoo evaluator list')")
        sidecar = path.with_suffix(".json")
        expected = None
        if not file_problem(sidecar, 2**20):
            try:
                expected = json.loads(sidecar.read_text()).get("sha256")
            except (OSError, ValueError, AttributeError):
                expected = None
        return load_classifier(path, expected_sha256=expected)
    fitted = fitted_evaluators()
    if name in fitted:
        return load_classifier(fitted[name]["path"], expected_sha256=fitted[name].get("sha256"), name=name)
    known = [r["name"] for r in list_evaluators()]
    raise UnknownNameError(
        f"Unknown evaluator {name!r}.{did_you_mean(name, known)} Known: {', '.join(known) or '(none)'}. Pass one of "
        "them, a path to a .pt file written by 'ganzoo evaluator fit', or fit one with 'ganzoo evaluator fit DATASET'.")
