"""Cron schedules of registry workflows (issue 19): reading cron expressions in a time zone
(``cron.py``), and the ticker that starts each due fire once (``ticker.py``)."""
