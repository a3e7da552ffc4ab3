"""ganzoo's built-in plugins: each module is registered through ganzoo's own ``ganzoo`` entry points."""
