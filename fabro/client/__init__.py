"""Clients of a running fabro server (the `fabro runs` commands)."""
