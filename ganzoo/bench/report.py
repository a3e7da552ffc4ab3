"""The benchmark's outputs: the live progress, the rich leaderboard, results.json, report.md and the pictures."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, NamedTuple

from rich.table import Table

from ganzoo.bench import html
from ganzoo.bench.results import target_key, write_json
from ganzoo.checkpoint import load_model
from ganzoo.files import atomic_write
from ganzoo.pictures import progress_animation
from ganzoo.sampling import save_grid
from ganzoo.translation import recorded_sources

__all__ = [
    "COLUMNS", "ONE_POINT", "PROTOCOL_COLUMNS", "Cell", "best_per_column", "columns", "curve_points", "key_shown",
    "leaderboard", "load_results", "machine_line", "markdown", "plot_fid_curves", "protocol_line", "table", "webpage", "write_all",
]

#: Leaderboard columns: (key, heading, format, which direction is better: +1 higher, -1 lower, 0 none).
COLUMNS = [
    ("steps", "steps", "{:.0f}", 0),
    ("images_per_second", "img/s", "{:.0f}", +1),
    ("wall_seconds", "train s", "{:.0f}", 0),
    ("parameters", "params", "{:,.0f}", 0),
    ("fid", "FID", "{:.2f}", -1),
    ("fid_untranslated", "FID untranslated", "{:.2f}", 0),  # a translation model's baseline: its sources untranslated
    ("inception_score", "IS", "{:.2f}", +1),
    ("kid", "KID", "{:.4f}", -1),
    ("precision", "precision", "{:.3f}", +1),
    ("recall", "recall", "{:.3f}", +1),
    ("density", "density", "{:.3f}", 0),  # 1 for samples as dense as the real data; above 1 is not better
    ("coverage", "coverage", "{:.3f}", +1),
    ("class_accuracy", "class acc", "{:.1%}", +1),
    ("class_kept", "class kept", "{:.1%}", +1),
    ("intra_fid", "intra-FID", "{:.2f}", -1),
    ("min_class_share", "rarest class", "{:.1%}", +1),
]


#: Columns whose numbers depend on the scoring protocol: a translation model's (A→B against real B) and a sampling
#: model's (samples against the whole data) are not ranked against each other (nor are their times to a FID).
PROTOCOL_COLUMNS = frozenset({"fid", "inception_score", "kid", "precision", "recall", "density", "coverage",
                              "min_class_share"})

#: A time-to-quality cell of a model whose FID curve has one point: the end of training tells not when a target
#: was reached, nor that it never was in between.
ONE_POINT = "1 point: not enough to say"
_TARGET_PREFIX = target_key(1).removesuffix("1")


def columns(results: dict[str, Any]) -> list[tuple[str, str, str, int]]:
    """The leaderboard's columns: the fixed ones, then one time-to-quality column per FID target."""
    return COLUMNS + [(target_key(t), f"steps to FID≤{t:g}", "{:.0f}", -1) for t in results.get("fid_targets") or []]


def curve_points(row: dict[str, Any]) -> int | None:
    """The most points any seed's FID curve of ``row`` holds (None when the row records no curve)."""
    curves = row.get("fid_curve")
    if not isinstance(curves, dict):
        return None
    return max((len(points or []) for points in curves.values()), default=0)


def _untimed(row: dict[str, Any], key: str) -> str:
    """What a time-to-quality cell says instead of a step when the curve cannot time it ('' when it can)."""
    points = curve_points(row)
    if not key.startswith(_TARGET_PREFIX) or points is None or points >= 2:
        return ""
    return ONE_POINT if points == 1 else "—"


def _cell(row: dict[str, Any], key: str, fmt: str) -> str:
    untimed = _untimed(row, key)
    if untimed:
        return untimed
    value = row.get(key)
    reached = row.get(f"{key}_reached")
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "not reached" if reached else "—"
    text = fmt.format(value)
    std = row.get(f"{key}_std")
    if std is not None:
        text += " ± " + fmt.format(std).rstrip("%") + ("%" if fmt.endswith("%}") else "")
    if reached and reached.split("/")[0] != reached.split("/")[1]:
        text += f" ({reached} seeds)"
    return text


def _value(row: dict[str, Any], key: str) -> float | None:
    """The number a cell compares by (best per column, sorting); None when it shows no comparable number."""
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return None if _untimed(row, key) else value


def best_per_column(models: list[dict[str, Any]], cols: list[tuple[str, str, str, int]] = COLUMNS
                    ) -> dict[str, str]:
    """The model with the best value of each scored column (none where two or more share the best value, nor in a
    column of :data:`PROTOCOL_COLUMNS` or a time to FID when translation and sampling models both have a value)."""
    best: dict[str, str] = {}
    for key, _, _, direction in cols:
        values = [(v, m["model"]) for m in models if direction and (v := _value(m, key)) is not None]
        kinds = {bool(m.get("translates")) for m in models if _value(m, key) is not None}
        if len(kinds) > 1 and (key in PROTOCOL_COLUMNS or key.startswith(_TARGET_PREFIX)):
            continue
        top = (max if direction > 0 else min)((v for v, _ in values), default=None)
        winners = [name for v, name in values if v == top]
        if len(values) > 1 and len(winners) == 1:
            best[key] = winners[0]
    return best


class Cell(NamedTuple):
    """One leaderboard cell: its text, the number it sorts by (None: none) and whether it is its column's best."""

    text: str
    value: float | None
    best: bool


def table(results: dict[str, Any]) -> tuple[list[tuple[str, str, str, int]], list[tuple[str, list[Cell]]]]:
    """The leaderboard every output shows: the columns some model has a value in, and per model its name and cells."""
    models = results["models"]
    cols = columns(results)
    best = best_per_column(models, cols)
    cols = [c for c in cols if any(key_shown(m, c[0]) for m in models)]
    rows = [(m["model"], [Cell(_cell(m, key, fmt), _value(m, key), best.get(key) == m["model"])
                          for key, _, fmt, _ in cols]) for m in models]
    return cols, rows


def leaderboard(results: dict[str, Any]) -> Table:
    """The rich leaderboard table, best value per column in bold green."""
    cols, rows = table(results)
    shown = Table(title=f"ganzoo bench — {results['dataset']}, per model: {_budget(results['budget'])}",
                  caption=protocol_line(results))
    shown.add_column("model", style="bold")
    for _, heading, _, _ in cols:
        shown.add_column(heading, justify="right")
    for name, cells in rows:
        shown.add_row(name, *(f"[bold green]{c.text}[/]" if c.best else c.text for c in cells))
    return shown


def _budget(budget: dict[str, Any]) -> str:
    limit = [f"{budget['steps']} steps"] if budget.get("steps") else []
    limit += [f"{budget['minutes']:g} minutes of training"] if budget.get("minutes") else []
    return f"{' or '.join(limit)}, {budget['seeds']} seed(s)"


def key_shown(row: dict[str, Any], key: str) -> bool:
    """True when ``row`` has something to show under ``key`` (a value, or a target it did not reach)."""
    return row.get(key) is not None or f"{key}_reached" in row


def protocol_line(results: dict[str, Any]) -> str:
    """One line saying how every score was measured."""
    p = results["protocol"]
    sha = str(p.get("weights_sha256", ""))[:12]
    line = (f"evaluator {p.get('evaluator')} (sha256 {sha}), resize {p.get('resize')}, "
            f"real {p.get('real_split')} ×{p.get('real_count')}, fake ×{p.get('n_eval')}, seeds {p.get('seeds')}")
    averaged = [m["model"] for m in results.get("models", []) if m.get("generator", "").startswith("moving")]
    if averaged:
        line += f"; samples of {', '.join(averaged)} from the generator's moving average"
    translating = [m["model"] for m in results.get("models", []) if m.get("translates")]
    if translating:
        line += (f"; {', '.join(translating)} translate{'s' if len(translating) == 1 else ''} images: FID, IS, KID "
                 f"and precision/recall/density/coverage of A→B translations against real B ({p.get('translation')}); "
                 "FID untranslated: the source A images themselves against real B (the baseline to beat); class kept: "
                 "share of translations the evaluator gives its source's class")
    if p.get("prdc_k") is not None:
        line += f"; precision/recall/density/coverage: k = {p['prdc_k']} nearest neighbours, {p.get('prdc_split')}"
    if results.get("fid_targets"):
        line += (f"; steps to FID≤t: the first step of the FID curve ({p.get('fid_curve_samples')} samples) at or "
                 "below t, needing 2 or more points")
    return line


def markdown(results: dict[str, Any], pictures: dict[str, str], plot: str | None,
             progress: dict[str, str] | None = None) -> str:
    """report.md: the leaderboard as a Markdown table, the protocol, the pictures (``progress``: animations)."""
    cols, rows = table(results)
    lines = [f"# ganzoo bench — {results['dataset']}", "",
             f"Budget per model: {_budget(results['budget'])}. Best value per column in **bold**.", "",
             "| model | " + " | ".join(c[1] for c in cols) + " |",
             "|---|" + "---:|" * len(cols)]
    for name, cells in rows:
        lines.append(f"| {name} | " + " | ".join(f"**{c.text}**" if c.best else c.text for c in cells) + " |")
    lines += ["", f"Protocol: {protocol_line(results)}.", "", f"Machine: {machine_line(results)}.", ""]
    if plot:
        lines += ["## FID during training", "", f"![FID against training step]({plot})", ""]
    lines += ["## Samples", ""]
    for name, pic in pictures.items():
        lines += [f"### {name}", "", f"![{name} samples]({pic})", ""]
        if (progress or {}).get(name):
            lines += [f"Learning (the run's fixed-noise grids, seed 0): ![{name} during training]({progress[name]})",
                      ""]
    return "\n".join(lines)


def machine_line(results: dict[str, Any]) -> str:
    """One line naming the machine and the versions that scored: CPU, device (GPU), torch, torchmetrics."""
    env = results["environment"]
    return (f"{env['cpu']}, device {env['device']}" + (f" ({env['gpu']})" if env.get("gpu") else "")
            + f"; torch {env['packages'].get('torch')}, torchmetrics {env['packages'].get('torchmetrics')}")


def webpage(results: dict[str, Any], folder: Path, pictures: dict[str, str], plot: str | None,
            progress: dict[str, str] | None = None) -> str:
    """report.html: report.md's leaderboard (sortable), protocol, machine and pictures (from ``folder``, inline)."""
    cols, rows = table(results)
    figures = [("FID during training", [("FID against training step", folder / plot)])] if plot else []
    for name, pic in pictures.items():
        shown = [("samples (seed 0)", folder / pic)]
        if (progress or {}).get(name):
            shown.append(("learning: the run's fixed-noise grids (seed 0)", folder / progress[name]))
        figures.append((f"Samples: {name}", shown))
    return html.page(
        title=f"ganzoo bench — {results['dataset']}",
        intro=f"Budget per model: {_budget(results['budget'])}. Best value per column in bold; "
              "click a column's heading to sort by it.",
        columns=[("model", "model", 0)] + [(key, heading, direction) for key, heading, _, direction in cols],
        rows=rows, notes=[("Protocol", protocol_line(results)), ("Machine", machine_line(results))],
        figures=figures)


def plot_fid_curves(results: dict[str, Any], path: Path) -> bool:
    """A PNG of FID against training step for every model (False when no curve was recorded)."""
    curves = {m["model"]: m.get("fid_curve") or {} for m in results["models"]}
    if not any(points for c in curves.values() for points in c.values()):
        return False
    import matplotlib  # here, not at the top: matplotlib costs start-up time and is needed only for this plot

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for i, (name, by_seed) in enumerate(curves.items()):
        for j, (seed, points) in enumerate(sorted(by_seed.items())):
            if points:
                ax.plot([p["step"] for p in points], [p["fid"] for p in points], marker="o", ms=3,
                        color=f"C{i}", alpha=1.0 if j == 0 else 0.5, label=name if j == 0 else None)
    ax.set_xlabel("training step")
    ax.set_ylabel(f"FID ({results['protocol'].get('evaluator')}, {results['protocol'].get('fid_curve_samples')} samples)")
    ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend()
    ax.set_title(f"FID during training — {results['dataset']}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def write_all(results: dict[str, Any], runs: list[dict[str, Any]], out: Path) -> None:
    """Write results.json, one sample grid per model, the FID plot, report.md and report.html into ``out``."""
    pictures: dict[str, str] = {}
    progress: dict[str, str] = {}
    for m in results["models"]:
        run = next(r for r in runs if r["model"] == m["model"])
        net, meta = load_model(run["checkpoint"], device="cpu")
        pic = f"samples-{m['model']}.png"
        # a translation model's grid translates images of the data it was trained on (rows A, A→B, …, B→A→B)
        save_grid(net, out / pic, seed=0, data=recorded_sources(net, meta.get("config")))
        pictures[m["model"]] = pic
        m["samples"] = pic
        if progress_animation(run["run_dir"], out / f"progress-{m['model']}.gif"):  # its first seed's grids
            progress[m["model"]] = m["progress"] = f"progress-{m['model']}.gif"
    plot = "fid-curve.png" if plot_fid_curves(results, out / "fid-curve.png") else None
    results["pictures"] = {"samples": pictures, "progress": progress, "fid_curve": plot}
    write_json(out / "results.json", _finite(results))
    atomic_write(out / "report.md", markdown(results, pictures, plot, progress))
    atomic_write(out / "report.html", webpage(results, out, pictures, plot, progress))


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def load_results(path: Path) -> dict[str, Any]:
    """Read a results.json written by :func:`write_all`."""
    return json.loads(Path(path).read_text())
