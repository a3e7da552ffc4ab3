"""``ganzoo evaluator list``, ``ganzoo evaluator fit DATASET`` and ``ganzoo evaluator download NAME``: the feature
extractors that scores use."""
from __future__ import annotations

import argparse
import json

from rich.table import Table

from ganzoo.commands.dataflags import add_data_flags, data_options
from ganzoo.console import console, err_console
from ganzoo.data import DataSpec
from ganzoo.environment import resolve_device
from ganzoo.errors import ConfigError
from ganzoo.metrics import list_evaluators
from ganzoo.metrics.classifier import FitConfig, fit_evaluator
from ganzoo.metrics.download import download_weights, remote_weights, verify_weights
from ganzoo.rng import check_seed

__all__ = ["add_parser", "run_download", "run_fit", "run_list"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``evaluator list`` and ``evaluator fit``."""
    p = sub.add_parser("evaluator", help="list evaluators, fit a classifier evaluator for a labelled data set, or "
                                         "download an evaluator's weights",
                       description="Evaluators turn images into features (FID, KID) and class logits (IS, class "
                                   "accuracy).")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    q = actions.add_parser("list", help="registered and fitted evaluators")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=run_list)

    q = actions.add_parser(
        "fit", help="train a classifier evaluator on a labelled data set and save it with its SHA-256",
        description="Train the small CNN evaluator on DATASET (stratified hold-out for its accuracy). It is saved "
                    "in ganzoo's cache as NAME (default DATASET-cnn): use it with 'ganzoo eval RUN --evaluator NAME' "
                    "and 'ganzoo bench ... --evaluator NAME', or set datasets.DATASET.evaluator: NAME in a zoo file "
                    "(--config).")
    q.add_argument("dataset", metavar="DATASET", help="a labelled data set ('ganzoo datasets')")
    q.add_argument("--name", help="evaluator name (default: DATASET-cnn)")
    q.add_argument("--out", help="write to this .pt path instead of the cache (use it by path)")
    q.add_argument("--epochs", type=int, default=12)
    q.add_argument("--holdout", type=int, default=0,
                   help="images held out for the accuracy (default: a fifth of the data set, at most 1000)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--batch-size", type=int, default=64)
    q.add_argument("--hflip", action="store_true", help="augment with horizontal flips (photos, not digits)")
    q.add_argument("--threads", type=int, default=1, help="CPU threads (default 1: deterministic, robust)")
    q.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    add_data_flags(q, None, root_aliases=("--root",))  # DATASET is positional here
    q.add_argument("--download", action="store_true", help="let the data set download itself if missing")
    q.add_argument("--json", action="store_true", help="print the saved record as JSON")
    q.set_defaults(func=run_fit)

    q = actions.add_parser(
        "download", help="download an evaluator's weights file (inception-v3), checked against its SHA-256",
        description="Fetch the weights file NAME declares (inception-v3: torch-fidelity's InceptionV3 into the torch "
                    "hub cache, $TORCH_HOME/hub/checkpoints) with a progress bar, check its SHA-256 and move it into "
                    "place; a failed download leaves no file. Nothing is fetched when the file is already there.")
    q.add_argument("name", metavar="NAME", help="a registered evaluator with a weights file ('ganzoo evaluator list')")
    q.add_argument("--url", help="fetch from this URL instead (a mirror; inception-v3 also reads "
                                 "$GANZOO_INCEPTION_URL)")
    q.add_argument("--force", action="store_true", help="download again even when the file is there")
    q.set_defaults(func=run_download)


def run_list(args: argparse.Namespace) -> int:
    """Print the registered and fitted evaluators."""
    rows = list_evaluators()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title="ganzoo evaluators")
    for col in ("name", "kind", "description", "status"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["name"], r["kind"] if r["kind"] == "fitted" else f"{r['kind']} ({r['dist']})",
                      r["description"], r["status"])
    console.print(table)
    return 0


def run_fit(args: argparse.Namespace) -> int:
    """Train, save and report a classifier evaluator."""
    for flag, value, high in (("--epochs", args.epochs, 10_000), ("--batch-size", args.batch_size, 65_536),
                              ("--threads", args.threads, 1024)):
        if not 0 < value <= high:
            raise ConfigError(f"{flag} {value}: must be an integer from 1 to {high:,}")
    if args.holdout < 0:
        raise ConfigError(f"--holdout {args.holdout}: must be positive (or 0 for a fifth of the data set)")
    check_seed("--seed", args.seed)
    spec = DataSpec.create(args.dataset, data_options(args.data_option), args.data_root)
    device = resolve_device(args.device)
    cfg = FitConfig(holdout=args.holdout, epochs=args.epochs, batch_size=args.batch_size, hflip=args.hflip,
                    seed=args.seed, threads=args.threads, device=str(device))
    log = None if args.json else (lambda msg: err_console.print(f"[dim]{msg}[/]", highlight=False))
    record = fit_evaluator(spec, name=args.name, out=args.out, config=cfg, download=args.download, log=log)
    if args.json:
        print(json.dumps(record, indent=2))
        return 0
    console.print(f"evaluator [bold]{record['name']}[/]: held-out accuracy {record['heldout_accuracy']:.2%} on "
                  f"{record['heldout_count']} images of {record['dataset']}", highlight=False)
    console.print(f"saved {record['path']}\nSHA-256 {record['sha256']}", highlight=False)
    use = record["path"] if args.out else record["name"]
    console.print(f"use it: ganzoo eval RUN_DIR --evaluator {use}, ganzoo bench ... --evaluator {use}, or for both "
                  f"a zoo file (--config) holding datasets: {{{args.dataset}: {{evaluator: {use}}}}}", highlight=False,
                  soft_wrap=True)
    return 0


def run_download(args: argparse.Namespace) -> int:
    """Download a registered evaluator's weights file unless it is already there."""
    remote = remote_weights(args.name)
    if remote.path.is_file() and not args.force:
        digest = verify_weights(remote)
        console.print(f"{args.name}: weights already there: {remote.path}\nSHA-256 {digest}", highlight=False,
                      soft_wrap=True)
        return 0
    digest = download_weights(remote, url=args.url)
    console.print(f"{args.name}: weights saved to {remote.path}\nSHA-256 {digest}", highlight=False, soft_wrap=True)
    return 0
