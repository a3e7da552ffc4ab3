"""Built-in evaluators (filled in by the harness/metrics work)."""
