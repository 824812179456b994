"""Secrets (issue 19): values kept sealed in the database under a key file, handed to the
stages that name them as environment variables, and redacted by value everywhere.

``box``: the key and sealing (PyNaCl's SecretBox). ``keyfile``: the key file, written 0600 and
atomically, and the pending key of a rotation. ``vault``: setting, listing, deleting, rotating
and reading secrets. ``source``: what the engine asks of them (the names a stage needs).
"""
