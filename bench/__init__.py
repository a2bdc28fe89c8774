"""The benchmark of issue 5: `python -m bench` (see bench/README.md)."""
