"""Benchmarks run by `scripts/bench <subcommand>` (parse; engine and api come later)."""
