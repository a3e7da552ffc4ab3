"""``ganzoo bench``: train the named models under one budget, score them, write a leaderboard."""
from __future__ import annotations

import argparse
import json

from ganzoo.bench import BenchOptions, run_bench
from ganzoo.bench.report import leaderboard
from ganzoo.commands.dataflags import add_data_flags, data_options
from ganzoo.console import console, err_console

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the bench sub-command."""
    p = sub.add_parser(
        "bench", help="train and score models under one budget; write a leaderboard",
        description="Train each named model with the same data and budget, score all with the same evaluator and "
                    "protocol, and write results.json, report.md, report.html (one page, sortable), sample grids "
                    "and an FID curve into --out.")
    p.add_argument("models", nargs="*", metavar="MODEL", help="models to compare (see 'ganzoo list')")
    p.add_argument("--all", action="store_true", help="every registered model")
    p.add_argument("--suite", help="a suite from zoo.yaml's bench.suites (default: bench.suite)")
    add_data_flags(p, "data set (default: the suite's)")
    p.add_argument("--evaluator", help="evaluator name or .pt path (default: the suite's, else zoo.yaml "
                                       "datasets.<name>.evaluator; see 'ganzoo evaluator list')")
    p.add_argument("--evaluator-weights", metavar="PATH",
                   help="weights file of an evaluator that reads one (see 'ganzoo evaluator list')")
    p.add_argument("--download", action="store_true",
                   help="download the evaluator's weights file before anything else if it is missing (inception-v3; "
                        "see 'ganzoo evaluator download')")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, help="training steps per model")
    budget.add_argument("--minutes", type=float, help="training minutes per model")
    p.add_argument("--seeds", type=int, help="repeat with K seeds and report mean ± std")
    p.add_argument("--n-eval", type=int, help="generated samples scored per model")
    p.add_argument("--eval-every", type=int, help="score a small FID every N steps for the curve (0: off; "
                                                  "default: the suite's eval_every, 0 unless zoo.yaml sets one)")
    p.add_argument("--fid-target", dest="fid_targets", type=float, action="append", metavar="FID",
                   help="time to quality: report the first step whose FID is at or below FID (repeatable; "
                        "default: the suite's fid_targets; needs --eval-every)")
    p.add_argument("--out", default="bench-out", help="output folder (default: bench-out)")
    p.add_argument("--reuse", action="store_true", help="skip training where a finished run with the same config exists")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--config", help="zoo file (default: the zoo's zoo.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value, e.g. --set dcgan.lr_g=1e-4")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.add_argument("--json", action="store_true", help="print results.json to stdout instead of the table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print the leaderboard."""
    opts = BenchOptions(models=args.models, all=args.all, suite=args.suite, dataset=args.dataset,
                        dataset_options=data_options(args.data_option), data_root=args.data_root,
                        evaluator=args.evaluator, evaluator_weights=args.evaluator_weights, steps=args.steps,
                        minutes=args.minutes, seeds=args.seeds, n_eval=args.n_eval, eval_every=args.eval_every,
                        out=args.out, reuse=args.reuse, fid_targets=args.fid_targets, device=args.device,
                        config=args.config, overrides=args.overrides, quiet=args.quiet or args.json,
                        download=args.download)
    results = run_bench(opts, console=err_console if args.json else console)  # --json: stdout holds only JSON
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    else:
        console.print(leaderboard(results))
        console.print(f"Wrote {args.out}/results.json, report.md, report.html and pictures.")
    return 0
