"""Runs a benchmark: resolve the suite, train each model and seed, score it, aggregate, write the report."""
from __future__ import annotations

import hashlib
import json
import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ganzoo import harness
from ganzoo.bench import report
from ganzoo.bench.results import read_json, target_key, write_json
from ganzoo.checkpoint import load_model
from ganzoo.config import SECTION_CHOICES, SECTIONS, Zoo, defaults_of, load_zoo
from ganzoo.data import DataSpec
from ganzoo.environment import describe, resolve_device
from ganzoo.errors import ConfigError
from ganzoo.files import os_reason
from ganzoo.metrics import MetricsError, dataset_evaluator, evaluate, prepare_scoring
from ganzoo.metrics.download import ensure_weights
from ganzoo.metrics.manifold import PRDC_KEYS
from ganzoo.progress import make_progress
from ganzoo.registry import host
from ganzoo.runlog import RunLog

__all__ = [
    "CURVE_FILE", "RUN_FILE", "SCORES", "STATE_FILE", "TRANSLATION_PROTOCOL", "BenchOptions", "Plan", "aggregate",
    "check_scoring", "resolve_plan", "run_bench", "steps_to_fid", "target_key",
]

#: Scores aggregated over seeds (mean ± std), in the order the leaderboard shows them.
SCORES = ("fid", "inception_score", "kid", "precision", "recall", "density", "coverage", "class_accuracy", "intra_fid",
          "min_class_share", "class_kept", "fid_untranslated")
#: The protocol entries of a translation model's scores (A→B against real B) that results.json's protocol keeps.
TRANSLATION_PROTOCOL = ("translation", "sources", "class_kept", "fid_untranslated", "direction")
STATE_FILE = "bench-state.json"
#: In each run folder: the key of the settings it was started with, and its FID curve so far.
RUN_FILE = "bench-run.json"
CURVE_FILE = "fid-curve.json"


@dataclass
class BenchOptions:
    """What ``ganzoo bench`` was asked to do (None → the suite's value from zoo.yaml)."""

    models: list[str] = field(default_factory=list)
    all: bool = False
    suite: str | None = None
    dataset: str | None = None
    #: Loader options (``--data-option``) over the suite's ``dataset_options``; the folder (``--data-root``).
    dataset_options: dict[str, Any] = field(default_factory=dict)
    data_root: str | None = None
    #: The evaluator (name or .pt path; None: the suite's, else zoo.yaml ``datasets.<name>.evaluator``) and the
    #: weights file of one that reads one.
    evaluator: str | None = None
    evaluator_weights: str | None = None
    steps: int | None = None
    minutes: float | None = None
    seeds: int | None = None
    n_eval: int | None = None
    eval_every: int | None = None
    out: str = "bench-out"
    reuse: bool = False
    device: str = "auto"
    config: str | None = None
    overrides: list[str] = field(default_factory=list)
    quiet: bool = False
    fid_targets: list[float] | None = None
    #: Download the evaluator's weights file first when it is missing (``--download``).
    download: bool = False


@dataclass
class Plan:
    """A resolved benchmark: the models, the budget and the scoring protocol shared by all of them."""

    models: list[str]
    dataset: str
    steps: int | None
    minutes: float | None
    seeds: int
    n_eval: int
    eval_every: int
    overrides: list[str]
    fid_targets: list[float] = field(default_factory=list)
    dataset_options: dict[str, Any] = field(default_factory=dict)
    data_root: str | None = None
    evaluator: str | None = None
    evaluator_weights: str | None = None

    def data_spec(self) -> DataSpec:
        """The data every model trains on and is scored against."""
        return DataSpec(self.dataset, dict(self.dataset_options), self.data_root)

    def scoring(self) -> dict[str, Any]:
        """The evaluator arguments of :func:`ganzoo.metrics.evaluate` for this plan."""
        return {"evaluator": self.evaluator,
                "evaluator_options": {"weights": self.evaluator_weights} if self.evaluator_weights else None}

    def key(self, model: str, seed: int, zoo: Zoo) -> str:
        """A hash of everything that decides one model's result (its settings, the budget, the protocol)."""
        train = {k: v for k, v in zoo.section("train").items() if k != "loggers"}  # loggers change no result
        blob = json.dumps({"model": model, "hparams": zoo.model_hparams(model), "train": train,
                           "data": self.data_spec().record(), "evaluator": self.evaluator,
                           "datasets": zoo.section("datasets"), "steps": self.steps, "minutes": self.minutes, "seed": seed,
                           "n_eval": self.n_eval, "eval_every": self.eval_every, "metrics": zoo.section("metrics")},
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def resolve_plan(opts: BenchOptions, zoo: Zoo) -> Plan:
    """Merge the command line over the chosen suite; unknown models fail here, before any training."""
    bench = zoo.section("bench")
    suites = bench.get("suites") or {}
    suite_name = opts.suite or bench.get("suite") or "default"
    if suite_name not in suites:
        raise ConfigError(f"unknown bench suite {suite_name!r}; suites in {zoo.source}: "
                          f"{', '.join(suites) or '(none)'} (add one under bench.suites)")
    suite = {**bench_suite_defaults(), **suites[suite_name]}
    if opts.all:
        models = host().names("models")
    else:
        models = list(opts.models) or list(suite["models"])
    if not models:
        raise ConfigError(f"no models to benchmark: name some (ganzoo bench cgan dcgan), use --all, or give suite "
                          f"{suite_name!r} a 'models' list")
    for name in models:
        host().get("models", name)  # an unknown name fails before anything is trained
    if len(set(models)) != len(models):
        raise ConfigError(f"a model is named twice: {' '.join(models)}")
    steps = opts.steps if opts.steps is not None else (suite["steps"] or None)
    minutes = opts.minutes if opts.minutes is not None else (suite["minutes"] or None)
    if opts.steps is not None and opts.minutes is None:
        minutes = None  # an explicit --steps replaces the suite's time budget
    if opts.minutes is not None and opts.steps is None:
        steps = None
    if steps is None and minutes is None:
        steps = zoo.section("train")["steps"]
    for name, value in (("--steps", steps), ("--minutes", minutes), ("--seeds", opts.seeds),
                        ("--n-eval", opts.n_eval), ("--eval-every", opts.eval_every)):
        if value is not None and (not value >= 0 or (value == 0 and name in ("--steps", "--minutes", "--seeds"))):
            raise ConfigError(f"{name} {value:g}: must be positive")
    n_eval = opts.n_eval or suite["n_eval"] or zoo.section("metrics")["n_eval"]
    if n_eval not in SECTION_CHOICES["metrics.n_eval"]:
        raise ConfigError(f"--n-eval {n_eval}: must be {SECTION_CHOICES['metrics.n_eval']}")
    targets = [float(t) for t in (opts.fid_targets if opts.fid_targets is not None else suite["fid_targets"])]
    if any(not math.isfinite(t) or t <= 0 for t in targets):
        raise ConfigError(f"FID targets {targets}: each must be a positive number")
    eval_every = opts.eval_every if opts.eval_every is not None else suite["eval_every"]
    if targets and not eval_every:
        if opts.fid_targets:
            raise ConfigError("--fid-target needs the FID curve: add --eval-every N")
        targets = []  # the suite's targets, with the curve switched off: nothing to measure them on
    recorded = DataSpec.create(suite["dataset"], suite["dataset_options"], suite["data_root"] or None)
    data = recorded.override(opts.dataset, opts.dataset_options, opts.data_root)
    return Plan(models=models, dataset=data.name, steps=steps, minutes=minutes,
                seeds=opts.seeds or suite["seeds"], n_eval=int(n_eval), eval_every=eval_every,
                overrides=[*suite["set"], *opts.overrides], fid_targets=sorted(set(targets), reverse=True),
                dataset_options=data.options, data_root=data.root,
                evaluator=opts.evaluator or suite["evaluator"] or None, evaluator_weights=opts.evaluator_weights)


def bench_suite_defaults() -> dict[str, Any]:
    """The settings of a suite that zoo.yaml leaves out (its schema's defaults; no FID targets)."""
    return {**defaults_of(SECTIONS["bench"]["suites"].schema), "fid_targets": []}


def run_bench(opts: BenchOptions, console: Any = None) -> dict[str, Any]:
    """Train and score every model of the plan, then write results.json, report.md and the pictures."""
    zoo = load_zoo(opts.config).with_overrides(opts.overrides)
    plan = resolve_plan(opts, zoo)
    zoo = zoo.with_overrides(plan.overrides)
    device = resolve_device(opts.device)
    RunLog(zoo.section("train")["loggers"], active=False)  # an unknown logger, a missing package: before training
    if opts.download:
        ensure_weights(plan.evaluator or dataset_evaluator(plan.dataset, zoo), plan.scoring()["evaluator_options"])
    check_scoring(plan, zoo, device)
    out = Path(opts.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot make the folder ({os_reason(exc)}); pass another --out") from None
    bench_key = hashlib.sha256(json.dumps(asdict(plan), sort_keys=True).encode()).hexdigest()[:16]
    state = read_json(out / STATE_FILE)
    resuming = state.get("key") == bench_key and not state.get("complete")
    write_json(out / STATE_FILE, {"key": bench_key, "complete": False})

    runs: list[dict[str, Any]] = []
    jobs = [(m, s) for m in plan.models for s in range(plan.seeds)]
    progress = make_progress(console, disable=opts.quiet)
    with progress:
        overall = progress.add_task(f"bench ({len(jobs)} runs)", total=len(jobs))
        for model, seed in jobs:
            key = plan.key(model, seed, zoo)
            run_dir = out / "runs" / f"{model}-seed{seed}"
            done = _finished(run_dir, key)
            if done is not None and (opts.reuse or resuming):
                progress.console.print(f"[dim]{model} seed {seed}: reusing the finished run in {run_dir}[/]")
                runs.append(done)
            else:
                runs.append(_train_and_score(model, seed, key, plan, opts, zoo, device, run_dir, progress,
                                             resume=resuming or opts.reuse))
            progress.advance(overall)
    results = aggregate(plan, runs, describe(device), zoo)
    report.write_all(results, runs, out)
    write_json(out / STATE_FILE, {"key": bench_key, "complete": True})
    return results


def check_scoring(plan: Plan, zoo: Zoo, device: Any) -> None:
    """Everything scoring needs, checked before any training: the data, the evaluator, its reading of the images, and
    for translation models that the data holds their two domains (scored A→B against real B)."""
    translating = [m for m in plan.models if getattr(host().get("models", m).obj, "translates", False)]
    if len(translating) < len(plan.models):
        prepare_scoring(plan.data_spec(), zoo=zoo, device=device, **plan.scoring())
    if translating:
        try:
            prepare_scoring(plan.data_spec(), zoo=zoo, device=device, domain=1, **plan.scoring())
        except MetricsError as exc:
            raise MetricsError(f"{', '.join(translating)} translate{'s' if len(translating) == 1 else ''} images: "
                               f"{exc}") from None


def _train_and_score(model: str, seed: int, key: str, plan: Plan, opts: BenchOptions, zoo: Zoo, device: Any,
                     run_dir: Path, progress: Any, resume: bool) -> dict[str, Any]:
    # Resume only a run that was started with these very settings (its key); anything else starts afresh.
    resume = resume and read_json(run_dir / RUN_FILE).get("key") == key and (run_dir / "checkpoints").is_dir()
    write_json(run_dir / RUN_FILE, {"key": key})
    # The FID curve is kept in the run folder point by point, so a resumed run keeps the points scored before.
    curve: list[dict[str, float]] = read_json(run_dir / CURVE_FILE).get("points", []) if resume else []
    curve_n = min(plan.n_eval, 2000)

    def score_along(step: int, net: Any) -> dict[str, float]:
        s = evaluate(net, dataset=plan.data_spec(), n=curve_n, seed=seed, device=str(device), zoo=zoo,
                     **plan.scoring())
        curve[:] = [p for p in curve if p["step"] < step] + [{"step": step, "fid": s["fid"]}]
        write_json(run_dir / CURVE_FILE, {"points": curve})
        return {"fid": s["fid"]}  # the point, to the run's loggers (zoo.yaml train.loggers)

    summary = harness.train(harness.TrainOptions(
        model=model, dataset=plan.dataset, dataset_options=plan.dataset_options, data_root=plan.data_root,
        steps=plan.steps, max_seconds=plan.minutes * 60 if plan.minutes else None,
        seed=seed, out=str(run_dir), resume=resume, overwrite=not resume, device=str(device), config=opts.config,
        overrides=list(plan.overrides) + list(opts.overrides),
        callback=score_along if plan.eval_every else None, callback_every=plan.eval_every), quiet=True,
        progress=progress)
    net, _ = load_model(summary.checkpoint, device=str(device))
    progress.console.print(f"[dim]{model} seed {seed}: scoring {plan.n_eval} samples…[/]")
    t0 = time.perf_counter()
    scores = evaluate(net, dataset=plan.data_spec(), n=plan.n_eval, seed=seed, device=str(device), zoo=zoo,
                      **plan.scoring())
    shares = scores.get("class_distribution") or []
    run = {
        "model": model, "seed": seed, "key": key, "run_dir": str(run_dir),
        "conditional": bool(net.conditional), "translates": bool(getattr(net, "translates", False)),
        "family": net.family,
        "steps": summary.steps, "images_per_second": summary.images_per_second,
        "wall_seconds": summary.wall_seconds, "eval_seconds": time.perf_counter() - t0,
        "parameters": sum(net.parameter_counts().values()),
        "fid": scores["fid"], "inception_score": scores["inception_score"], "kid": scores["kid"],
        **{key: scores[key] for key in PRDC_KEYS},
        "class_accuracy": scores.get("class_accuracy"), "intra_fid": scores.get("intra_fid"),
        "intra_fid_note": scores.get("intra_fid_note"),
        "class_distribution": shares, "min_class_share": min(shares) if shares else None,
        "class_kept": scores.get("class_kept"), "fid_untranslated": scores.get("fid_untranslated"),
        "fid_curve": curve, "protocol": scores["protocol"], "checkpoint": str(summary.checkpoint),
    }
    write_json(run_dir / "bench-result.json", run)
    return run


def aggregate(plan: Plan, runs: list[dict[str, Any]], environment: dict[str, Any], zoo: Zoo) -> dict[str, Any]:
    """Per model: mean (and std over seeds) of every score, with the shared protocol and the environment."""
    models = []
    for name in plan.models:
        mine = [r for r in runs if r["model"] == name]
        row: dict[str, Any] = {"model": name, "conditional": mine[0]["conditional"],
                               "translates": bool(mine[0].get("translates")), "family": mine[0]["family"],
                               "seeds": [r["seed"] for r in mine], "parameters": mine[0]["parameters"],
                               "generator": mine[0]["protocol"].get("generator", "trained weights")}
        for k in ("steps", "images_per_second", "wall_seconds", *SCORES):
            values = [r[k] for r in mine if r.get(k) is not None]
            if not values:
                continue
            row[k] = statistics.fmean(values)
            if len(values) > 1 and not (k == "steps" and plan.steps):  # a step budget: every seed trains as long
                row[f"{k}_std"] = statistics.stdev(values)
        if row["conditional"]:
            row.setdefault("class_accuracy", None)
            row.setdefault("intra_fid", None)
            notes = {r["intra_fid_note"] for r in mine if r.get("intra_fid_note")}
            if row["intra_fid"] is None and notes:
                row["intra_fid_note"] = sorted(notes)[0]
        else:
            row.pop("class_accuracy", None)
            row.pop("intra_fid", None)
        row["class_distribution"] = [statistics.fmean(v) for v in zip(*(r["class_distribution"] for r in mine))] \
            if all(r["class_distribution"] for r in mine) else []
        row["fid_curve"] = {r["seed"]: r["fid_curve"] for r in mine}
        for target in plan.fid_targets:  # time to quality: the first scored step at or below the target
            key = target_key(target)
            reached = [s for s in (steps_to_fid(r["fid_curve"], target) for r in mine) if s is not None]
            row[key] = statistics.fmean(reached) if reached else None
            if len(reached) > 1:
                row[f"{key}_std"] = statistics.stdev(reached)
            row[f"{key}_reached"] = f"{len(reached)}/{len(mine)}"
        models.append(row)
    # The shared protocol is a sampling model's; a translation model's own (A→B against real B) is added to it.
    sampling = [r for r in runs if not r.get("translates")]
    protocol = dict((sampling or runs)[0]["protocol"]) if runs else {}
    translated = next((r["protocol"] for r in runs if r.get("translates")), {})
    protocol.update({k: translated[k] for k in TRANSLATION_PROTOCOL if k in translated})
    protocol.pop("seed", None)
    protocol.pop("generator", None)  # per model (its row): a moving average or the trained weights
    return {
        "dataset": plan.data_spec().describe(),
        "budget": {"steps": plan.steps, "minutes": plan.minutes, "seeds": plan.seeds},
        "fid_targets": plan.fid_targets,
        "protocol": {**protocol, "n_eval": plan.n_eval, "seeds": list(range(plan.seeds)),
                     "fid_curve_samples": min(plan.n_eval, 2000) if plan.eval_every else None},
        "environment": environment,
        "models": models,
    }


def steps_to_fid(curve: list[dict[str, float]], target: float) -> int | None:
    """The first step of a FID curve whose FID is at or below ``target`` (None when it never gets there)."""
    return next((int(p["step"]) for p in curve if p["fid"] is not None and p["fid"] <= target), None)


def _finished(run_dir: Path, key: str) -> dict[str, Any] | None:
    path = run_dir / "bench-result.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if data.get("key") == key and Path(data.get("checkpoint", "")).is_file() else None
