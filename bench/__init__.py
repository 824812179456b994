"""Benchmarks, the crash soak and the load test, run by `scripts/bench`, `scripts/soak` and
`scripts/load` from the repository root. Not part of the installed package: fabro never
imports this folder."""
