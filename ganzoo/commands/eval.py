"""``ganzoo eval RUN_DIR``: FID, IS, KID, precision/recall/density/coverage (and class accuracy, intra-class FID) of a
trained model, with the protocol. A translation model's scores are of its A→B translations against real B, with the
share that keeps its source's class and the untranslated baseline."""
from __future__ import annotations

import argparse
import contextlib
import json
import math
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ganzoo import pretrained_dir
from ganzoo.checkpoint import load_model
from ganzoo.commands.dataflags import add_data_flags, data_spec
from ganzoo.commands.sample import add_weights_flags
from ganzoo.config import SECTION_CHOICES, load_zoo
from ganzoo.console import console, err_console
from ganzoo.data import DataSpec
from ganzoo.environment import resolve_device
from ganzoo.errors import ConfigError
from ganzoo.metrics import dataset_evaluator, evaluate
from ganzoo.metrics.download import ensure_weights
from ganzoo.rng import check_seed

__all__ = ["ROWS", "TRANSLATION_LABELS", "add_parser", "protocol_table", "result_object", "run_eval", "scores_table"]

#: The scores shown, in order: (key, label, format).
ROWS = [
    ("fid", "FID ↓", "{:.3f}"),
    ("fid_untranslated", "FID untranslated A vs B (baseline)", "{:.3f}"),
    ("inception_score", "Inception Score ↑", "{:.3f}"),
    ("kid", "KID ↓", "{:.5f}"),
    ("precision", "precision ↑", "{:.3f}"),
    ("recall", "recall ↑", "{:.3f}"),
    ("density", "density (1: as dense as real)", "{:.3f}"),
    ("coverage", "coverage ↑", "{:.3f}"),
    ("class_accuracy", "class accuracy ↑", "{:.2%}"),
    ("intra_fid", "intra-class FID ↓", "{:.3f}"),
    ("class_kept", "class kept A→B ↑", "{:.2%}"),
]
#: The labels of a translation model's scores that differ from :data:`ROWS`' (they are of A→B against real B).
TRANSLATION_LABELS = {
    "fid": "FID A→B vs real B ↓",
    "inception_score": "Inception Score A→B ↑",
    "kid": "KID A→B vs real B ↓",
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the eval sub-command."""
    p = sub.add_parser(
        "eval", help="score a trained model: FID, IS, KID, precision/recall/density/coverage (+ class accuracy and "
                     "intra-class FID if conditional; A→B against real B, class kept and the untranslated baseline "
                     "if it translates)",
        description="Generate samples from a run's checkpoint and score them against the real data with the "
                    "data set's evaluator (zoo.yaml: datasets.<name>.evaluator). Every score states its protocol.")
    p.add_argument("run", metavar="RUN_DIR", help="a run folder written by 'ganzoo train', a checkpoint file, "
                                                 "an export folder ('ganzoo export') or hf://USER/REPO")
    p.add_argument("--n", type=int, help="generated samples (default: zoo.yaml metrics.n_eval)")
    p.add_argument("--evaluator", help="evaluator name or .pt path (default: the data set's; see "
                                       "'ganzoo evaluator list')")
    add_data_flags(p, "real data to compare with (default: the data set the run was trained on, with its options "
                      "and folder)")
    p.add_argument("--seed", type=int, help="sampling seed, 0 to 2**63-1 (default: zoo.yaml metrics.seed)")
    p.add_argument("--batch-size", type=int, help="images per batch (default: zoo.yaml metrics.batch_size)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--evaluator-weights", "--inception-weights", dest="weights", metavar="PATH",
                   help="weights file of an evaluator that reads one (see 'ganzoo evaluator list')")
    p.add_argument("--download", action="store_true",
                   help="download the evaluator's weights file first if it is missing (inception-v3; see 'ganzoo "
                        "evaluator download')")
    p.add_argument("--config", help="zoo file (default: the zoo's zoo.yaml)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    add_weights_flags(p, "score")
    p.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    """Load the run's model, score it, print the scores and their protocol."""
    for flag, value, key in (("--n", args.n, "n_eval"), ("--batch-size", args.batch_size, "batch_size")):
        allowed = SECTION_CHOICES[f"metrics.{key}"]  # the bounds of zoo.yaml's metrics section
        if value is not None and value not in allowed:
            raise ConfigError(f"{flag} {value}: must be {allowed}")
    if args.seed is not None:
        check_seed("--seed", args.seed)
    zoo = load_zoo(args.config)
    device = resolve_device(args.device)
    source = pretrained_dir(args.run) if args.pretrained else args.run
    model, meta = load_model(source, device=str(device))
    if args.raw and model.weights_source == "moving average":
        raise ConfigError(f"--raw: {args.run} holds only the moving average (a compact export); sample the run or a "
                          "full export for the trained weights")
    model.use_ema = not args.raw
    dataset = data_spec(args, recorded=DataSpec.from_record(meta.get("config") or {}))
    seed = args.seed if args.seed is not None else zoo.section("metrics")["seed"]
    options = {"weights": args.weights} if args.weights else None
    if args.download:
        ensure_weights(args.evaluator or dataset_evaluator(dataset.name, zoo), options)
    progress = None
    if not args.json:
        progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=err_console, transient=True)
    with progress if progress is not None else contextlib.nullcontext():
        scores = evaluate(model, dataset=dataset, evaluator=args.evaluator, n=args.n, seed=seed,
                          batch_size=args.batch_size, device=str(device), progress=progress, zoo=zoo,
                          evaluator_options=options)
    result = result_object(scores, conditional=bool(model.conditional), run=str(args.run),
                           model=meta.get("model") or getattr(model, "name", ""))
    if args.json:
        print(json.dumps(result, indent=2, allow_nan=False))
        return 0
    console.print(scores_table(result))
    console.print(protocol_table(result["protocol"]))
    for note in ("class_accuracy_note", "intra_fid_note"):
        if result.get(note):
            err_console.print(f"[yellow]note:[/] {result[note]}", highlight=False)
    return 0


def result_object(scores: dict[str, Any], *, conditional: bool, run: str = "", model: str = "") -> dict[str, Any]:
    """The JSON object ``ganzoo eval --json`` prints: scores (class accuracy/intra-FID only if conditional; class kept
    and the untranslated FID for a translation model), protocol."""
    keep = ["fid", "inception_score", "inception_score_std", "kid", "kid_std", "precision", "recall", "density",
            "coverage", "class_distribution"]
    if conditional:
        keep += ["class_accuracy", "class_accuracy_note", "intra_fid", "intra_fid_per_class", "intra_fid_note"]
    translates = "fid_untranslated" in scores
    if translates:
        keep += ["fid_untranslated", "class_kept"]
    out: dict[str, Any] = {"run": run, "model": model, "conditional": conditional}
    if translates:
        out["translates"] = True
    out.update({k: scores[k] for k in keep if k in scores})
    out["protocol"] = scores["protocol"]
    return out


def scores_table(result: dict[str, Any]) -> Table:
    """A rich table of the scores (mean ± std where there is one)."""
    table = Table(title=f"scores — {result.get('model') or result.get('run')}")
    table.add_column("score")
    table.add_column("value", justify="right")
    for key, label, fmt in ROWS:
        if key not in result:
            continue
        value = result[key]
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            text = "—"
        else:
            text = fmt.format(value)
            if result.get(f"{key}_std") is not None:
                text += " ± " + fmt.format(result[f"{key}_std"])
        table.add_row(TRANSLATION_LABELS.get(key, label) if result.get("translates") else label, text)
    shares = result.get("class_distribution")
    if shares:
        table.add_row("rarest class share", f"{min(shares):.1%} (class {shares.index(min(shares))})")
    return table


def protocol_table(protocol: dict[str, Any]) -> Table:
    """A rich table of how the scores were measured."""
    table = Table(title="protocol")
    table.add_column("setting")
    table.add_column("value")
    for key, value in protocol.items():
        table.add_row(key, str(value))
    return table
