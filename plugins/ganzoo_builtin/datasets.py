"""Built-in datasets (filled in by the harness/metrics work)."""
