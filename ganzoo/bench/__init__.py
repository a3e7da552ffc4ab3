"""``ganzoo bench``: train named models under one budget, score them with one protocol, write a leaderboard."""
from ganzoo.bench.runner import BenchOptions, run_bench

__all__ = ["BenchOptions", "run_bench"]
