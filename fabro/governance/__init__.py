"""Governance: who may do what over the API (roles), what a run may do on the host (policy),
the record of what it did (receipts), and how hard a client may press (rate limits,
idempotent writes). See docs/governance.md."""
