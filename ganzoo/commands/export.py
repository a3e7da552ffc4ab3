"""``ganzoo export RUN_DIR --out DIR``: a trained model in the Hugging Face layout (config.json, model.safetensors,
README.md model card, samples.png), optionally pushed to the Hub."""
from __future__ import annotations

import argparse
import warnings
from typing import Any

from ganzoo.checkpoint import load_model
from ganzoo.console import console
from ganzoo.data import DataSpec, ImageData
from ganzoo.errors import GanzooError
from ganzoo.export import CONFIG_FILE, GRID_FILE, WEIGHTS_FILE, check_hub_push, check_out_folder, push_to_hub, \
    run_scores, write_export
from ganzoo.sampling import save_grid
from ganzoo.translation import recorded_sources

__all__ = ["GRID_SAMPLES", "add_parser", "run"]

#: Images in the model card's sample grid (conditional models: one row per class).
GRID_SAMPLES = 64


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the export sub-command."""
    p = sub.add_parser(
        "export", help="write a trained model in the Hugging Face layout (safetensors + config.json + model card)",
        description="Export the newest good checkpoint of a run (or a checkpoint file) as config.json, "
                    "model.safetensors (the sampling networks and their moving average only: no discriminator, no "
                    "optimiser state, no pickle), a README.md model card and samples.png. ganzoo.load(DIR), "
                    "'ganzoo sample DIR' and 'ganzoo eval DIR' read it; --push-to-hub uploads it.")
    p.add_argument("run", metavar="RUN_DIR", help="a run folder written by 'ganzoo train', or a checkpoint file")
    p.add_argument("--out", required=True, metavar="DIR", help="the export folder (new, empty, or an earlier export)")
    p.add_argument("--overwrite", action="store_true",
                   help="write into a folder that holds other files (they are left alone; the export's are replaced)")
    p.add_argument("--compact", action="store_true",
                   help="keep only the weights samples come from (the moving average when there is one), in float16: "
                        "a quarter of the size; samples differ from the run's by float16 rounding")
    p.add_argument("--push-to-hub", metavar="USER/REPO",
                   help="then upload the export to this Hugging Face model repository (made if new; needs "
                        "pip install 'ganzoo[hub]' and a login: 'hf auth login' or HF_TOKEN)")
    p.add_argument("--private", action="store_true", help="with --push-to-hub: make a new repository private")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the run's model, write the export, push it when asked, and say what was written."""
    out = check_out_folder(args.out, args.overwrite)
    if args.push_to_hub:
        check_hub_push(args.push_to_hub)  # a bad name, no huggingface_hub or offline: refused before writing
    model, meta = load_model(args.run, device="cpu")
    model.use_ema = True
    if meta["config"].get("scores") is not None:  # an export exported again keeps its scores
        scores, note = meta["config"]["scores"], f"scores carried from {meta['path']}"
    else:
        scores, note = run_scores(meta["path"])
    data, grid_note = _grid_data(model, meta)
    grid = None if grid_note else (lambda path: save_grid(model, path, n=GRID_SAMPLES, seed=0, data=data))
    write_export(model, meta, out, scores=scores, repo=args.push_to_hub, overwrite=args.overwrite,
                 grid=grid, compact=args.compact, grid_note=grid_note)
    weights = "the generator's moving average and trained weights" if model.ema is not None else "trained weights"
    if args.compact:
        weights = ("the generator's moving average" if model.ema is not None else "trained weights") + ", float16"
    console.print(f"exported {meta['model']} at step {meta['step']} to {out}: {CONFIG_FILE}, {WEIGHTS_FILE} "
                  f"({weights}), README.md{'' if grid_note else ', ' + GRID_FILE}; {note}", highlight=False,
                  markup=False, soft_wrap=True)
    where = str(out)
    if args.push_to_hub:
        url = push_to_hub(out, args.push_to_hub, private=args.private)
        console.print(f"pushed to {url}", highlight=False, markup=False, soft_wrap=True)
        where = f"hf://{args.push_to_hub}"
    use = f"ganzoo translate {where} --input DIR --to B --out DIR" if getattr(model, "translates", False) else \
        f"ganzoo sample {where}"
    console.print(f'load it with ganzoo.load("{where}") or: {use}', highlight=False, markup=False, soft_wrap=True)
    return 0


def _grid_data(model: Any, meta: dict[str, Any]) -> tuple[ImageData | None, str | None]:
    """The source images of a translation model's grid (the run's recorded data; None for other models), or why the
    grid is left out (a warning says so too)."""
    try:
        return recorded_sources(model, meta.get("config")), None
    except GanzooError as exc:
        spec = DataSpec.from_record(meta.get("config") or {})
        note = (f"No {GRID_FILE}: a translation model's grid translates images of its training data, "
                f"{spec.describe()}, which could not be loaded when it was exported ({exc})")
        warnings.warn(f"{note}; the export has no {GRID_FILE}", stacklevel=2)
        return None, note
