"""Write the pretrained built-ins that the package ships (plugins/ganzoo_builtin/pretrained/NAME/) from runs trained at
the default budget. Run by a developer after retuning, never by a user or a test::

    for m in gan cgan acgan dcgan vae; do ganzoo train $m --out runs/$m; done
    ganzoo train cyclegan --dataset mnist-ab --steps 3000 --out runs/cyclegan   # the translation suite's budget
    python benchmarks/make_pretrained.py --runs runs            # all six, or name some

Each folder is a compact export (the generator's moving average in float16) with its scores on its data (the embedded
MNIST; mnist-ab for cyclegan, whose 2,500 domain-A images are all translated) with the data set's evaluator, N_EVAL
samples, seed 0, and the commands that reproduce it, in config.json and the card.
``tests/test_pretrained.py`` checks that the shipped weights still load and still score within a tolerance of it.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from ganzoo import list_models
from ganzoo.checkpoint import load_model
from ganzoo.data import DataSpec
from ganzoo.export import SCORE_KEYS, write_export
from ganzoo.metrics import evaluate
from ganzoo.sampling import save_grid
from ganzoo.translation import recorded_sources

#: Samples scored for a card (the bench's protocol); the test scores the same number with the same seed.
N_EVAL = 5000
SHIPPED = Path(__file__).resolve().parent.parent / "plugins" / "ganzoo_builtin" / "pretrained"


def make(name: str, run: Path, out: Path) -> dict:
    """Export ``run`` compactly into ``out`` with its scores (those of the exported float16 weights)."""
    model, meta = load_model(run)
    model.use_ema = True
    with tempfile.TemporaryDirectory() as tmp:  # score what ships: the float16 average, loaded back
        write_export(model, meta, tmp, compact=True)
        shipped, _ = load_model(tmp)
        scores = evaluate(shipped, dataset=DataSpec.from_record(meta["config"]), n=N_EVAL, seed=0)
    kept = {k: scores[k] for k in SCORE_KEYS if scores.get(k) is not None}
    kept["protocol"] = scores["protocol"]
    steps, spec = meta["step"], DataSpec.from_record(meta["config"])
    train = f"ganzoo train {name} --out runs/{name}" + (f" --dataset {spec.name} --steps {steps}" if model.translates
                                                       else "")
    reproduce = [f"{train}        # {steps:,} steps, seed 0, {spec.describe()}",
                 f"ganzoo export runs/{name} --out {name} --compact",
                 f"ganzoo eval {name} --n {N_EVAL} --json     # the scores above"]
    write_export(model, meta, out, scores=kept, compact=True, overwrite=True, reproduce=reproduce, pretrained=True,
                 grid=lambda path: save_grid(model, path, n=64, seed=0, data=recorded_sources(model, meta["config"])))
    return kept


def main() -> None:
    """Write the named models' folders (default: every built-in with a run under --runs)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="*")
    p.add_argument("--runs", default="runs", help="folder holding one run folder per model (runs/NAME)")
    args = p.parse_args()
    names = args.models or [m for m in list_models() if (Path(args.runs) / m).is_dir()]
    for name in names:
        scores = make(name, Path(args.runs) / name, SHIPPED / name)
        shown = ", ".join(f"{k} {scores[k]:.4g}" for k in ("fid", "class_accuracy", "precision", "recall")
                          if k in scores)
        print(f"{name}: {shown} -> {SHIPPED / name}")


if __name__ == "__main__":
    main()
