"""Signed webhooks (issue 19): subscriptions, the dispatcher that turns committed events into
deliveries, the sender that POSTs them with retries, and signing. docs/webhooks.md says what a
receiver sees."""
