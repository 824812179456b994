"""The vault: secrets set, listed, deleted, rotated and read, sealed at rest.

A value is sealed before it is written and opened after it is read (fabro/secrets/box.py);
the key file is made on first use (fabro/secrets/keyfile.py). Every value joins the server's
redactor when it is set and when the vault opens at startup, before any run can read it.

Rotation, and what a crash leaves:

1. the new key is written to `secrets.key.next` (0600, flushed); the old key stays in place;
2. one write transaction re-seals every value under the new key (each row's `key_id` names
   its key);
3. once that has committed, `secrets.key.next` is renamed over `secrets.key`.

A crash before 2 commits leaves every row under the old key, which is still the key file;
after, every row is under the new key, which is `secrets.key.next` until 3 renames it. At
startup ``open`` looks at a `secrets.key.next` left behind: if any row names its id, the
transaction committed and the rename is done now; if none does, the file is deleted. Either
way every value opens with the key file, and no value was ever readable without a key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from fabro.clock import SYSTEM_CLOCK, Clock, now_ts
from fabro.events.redact import Redactor, secret_texts
from fabro.secrets import keyfile
from fabro.secrets.box import CannotOpen, SecretKey, UnusableKey
from fabro.secrets.source import MissingSecret
from fabro.storage.records import Page
from fabro.storage.secrets import SealedSecret, SecretInfo, SecretRows
from fabro.workflow.attributes import SECRET_NAME

log = logging.getLogger(__name__)

# A value's length in characters. At least the redactor's shortest (fabro/events/redact.py):
# a shorter value could not be redacted without redacting ordinary words.
MIN_VALUE_CHARS = 8
MAX_VALUE_CHARS = 65_536
# Provider keys that a secret of the same name supplies when the environment has none
# (read at startup: fabro/llm/router.py chooses the backend once).
PROVIDER_KEYS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY")


class KeyUnavailable(Exception):
    """The key file cannot be read or holds no key; the message says which and why."""


class Vault:
    """The secrets of one data directory; the engine's SecretSource (``values``)."""

    def __init__(
        self,
        rows: SecretRows,
        path: Path,
        redactor: Redactor | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.rows = rows
        self.path = path  # the key file
        self.redactor = redactor
        self.clock = clock
        # Every key this process has used, by id: a value read just before a rotation's commit
        # still opens after it. The current key seals.
        self._keys: dict[str, SecretKey] = {}
        self._current: SecretKey | None = None
        self._lock = asyncio.Lock()  # one change at a time: a value is never sealed under a
        # key that a rotation is about to retire

    # ---- startup ----

    async def open(self) -> int:
        """Finish or undo a rotation a crash interrupted, then redact every value and the key
        from now on; how many secrets there are. A value that cannot be opened is logged
        (the stages that need it fail, saying so), never fatal."""
        async with self._lock:
            await self._recover()
            sealed = await self.rows.sealed()
            try:
                await self._load()
            except KeyUnavailable as exc:
                if sealed:
                    log.error("secrets: %s; no secret can be read", exc)
                return len(sealed)
            values = []
            for secret in sealed:
                try:
                    values.append(self._open(secret))
                except MissingSecret as missing:
                    log.error("secrets: '%s' %s", secret.name, missing.reason)
            self._redact(values)
        return len(sealed)

    async def recover(self) -> None:
        """Finish or undo a rotation a crash interrupted (the module docstring says how)."""
        async with self._lock:
            await self._recover()

    async def _recover(self) -> None:
        pending = keyfile.next_path(self.path)
        try:
            new = await asyncio.to_thread(keyfile.read_key, pending)
        except (OSError, UnusableKey) as exc:
            log.warning("secrets: deleting %s, an unusable rotation key (%s)", pending, exc)
            await asyncio.to_thread(keyfile.discard, pending)
            return
        if new is None:
            return
        if await self.rows.uses_key(new.id):
            await asyncio.to_thread(keyfile.install, pending, self.path)
            log.warning("secrets: finished the key rotation a stop interrupted (new key installed)")
        else:
            await asyncio.to_thread(keyfile.discard, pending)
            log.warning("secrets: undid the key rotation a stop interrupted (old key kept)")

    # ---- changes ----

    async def set(self, name: str, value: str) -> tuple[SecretInfo, bool]:
        """Set ``name`` to ``value``; its name and dates, and whether it was created."""
        check_name(name)
        async with self._lock:
            key = await self._load(create=True)
            # Redacted before it is stored: no run can read it before its redaction.
            self._redact([value])
            created = await self.rows.put(name, key.seal(value), key.id, now_ts(self.clock))
            info = await self.rows.info(name)
        assert info is not None  # only delete() removes a row, and it waits for the lock
        return info, created

    async def delete(self, name: str) -> bool:
        """Forget ``name``; False when it was not set. Its value stays redacted until a restart
        (a program started with it may still print it)."""
        async with self._lock:
            return await self.rows.delete(name)

    async def rotate(self) -> tuple[int, str]:
        """A new key, every value re-sealed under it in one transaction, then the key file
        replaced (the module docstring says what a crash leaves); how many values were
        re-sealed, and the new key's id. Carried through even if the caller is cancelled:
        stopping half way is what a crash does."""
        async with self._lock:
            return await asyncio.shield(self._rotate())

    async def _rotate(self) -> tuple[int, str]:
        try:
            old: SecretKey | None = await self._load()
        except KeyUnavailable:
            old = None  # no key yet; or a lost one, and then re-sealing fails below, saying so
        new = SecretKey.generate()
        pending = keyfile.next_path(self.path)
        try:
            await asyncio.to_thread(keyfile.write_key, pending, new)
        except OSError as exc:
            raise KeyUnavailable(f"cannot write {pending}: {exc.strerror or exc}") from None
        self._keys[new.id] = new
        self._redact_texts([new.text])

        def reseal(sealed: bytes, key_id: str) -> tuple[bytes, str]:
            return new.seal(self._open_as(sealed, key_id)), new.id

        try:
            count = await self.rows.reseal_all(reseal, new.id)
        except BaseException as exc:
            await asyncio.to_thread(keyfile.discard, pending)
            if isinstance(exc, KeyError | CannotOpen):
                raise KeyUnavailable(
                    f"a value cannot be opened with the key file {self.path}; nothing changed"
                ) from None
            raise
        await asyncio.to_thread(keyfile.install, pending, self.path)
        self._current = new
        # A value another area sealed under the old key while the transaction ran (a
        # KeySealer does not wait for the lock): re-sealed now that nothing seals with it.
        count += await self.rows.reseal_all(reseal, new.id)
        retired = old.id if old else "none"
        log.info("secrets: key %s replaces %s (%d values re-sealed)", new.id, retired, count)
        return count, new.id

    # ---- reads ----

    async def list(self, *, limit: int, offset: int) -> Page[SecretInfo]:
        """Names and dates, by name; never a value."""
        return await self.rows.list(limit=limit, offset=offset)

    async def info(self, name: str) -> SecretInfo | None:
        return await self.rows.info(name)

    async def values(self, names: Sequence[str]) -> dict[str, str]:
        """The value of each of ``names`` (the engine's SecretSource); MissingSecret naming
        the first one that is not set or cannot be opened."""
        sealed = {secret.name: secret for secret in await self.rows.sealed(names)}
        if sealed and not self._keys:
            try:
                await self._load()
            except KeyUnavailable as exc:
                raise MissingSecret(names[0], f"cannot be read ({exc})") from None
        found = {}
        for name in names:
            secret = sealed.get(name)
            if secret is None:
                raise MissingSecret(name)
            found[name] = self._open(secret)
        return found

    async def provider_keys(self, env: Mapping[str, str]) -> dict[str, str]:
        """The provider keys (PROVIDER_KEYS) that ``env`` lacks and a secret supplies."""
        wanted = [name for name in PROVIDER_KEYS if not env.get(name)]
        found = {}
        for secret in await self.rows.sealed(wanted):
            try:
                found.update(await self.values([secret.name]))
            except MissingSecret as missing:
                log.error("secrets: '%s' %s", secret.name, missing.reason)
        return found

    # ---- the key ----

    async def _load(self, *, create: bool = False) -> SecretKey:
        """The current key: read once (made on first use with ``create``); KeyUnavailable when
        there is none or it cannot be read."""
        if self._current is not None:
            return self._current
        try:
            if create:
                key = await asyncio.to_thread(keyfile.create_key, self.path)
            else:
                found = await asyncio.to_thread(keyfile.read_key, self.path)
                if found is None:
                    raise KeyUnavailable(f"the key file {self.path} does not exist")
                key = found
        except (OSError, UnusableKey) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise KeyUnavailable(f"the key file {self.path} cannot be used: {reason}") from None
        self._current = key
        self._keys[key.id] = key
        self._redact_texts([key.text])
        return key

    def key_now(self, key_id: str | None = None) -> SecretKey:
        """For KeySealer, which cannot wait: the key ``key_id`` names (the current one with
        None, made on first use), read from the key file if this process has not yet.
        CannotOpen when no key has that id."""
        if key_id is not None and key_id in self._keys:
            return self._keys[key_id]
        if self._current is None:
            try:
                key = (
                    keyfile.create_key(self.path) if key_id is None else keyfile.read_key(self.path)
                )
            except (OSError, UnusableKey) as exc:
                raise CannotOpen(f"the key file {self.path} cannot be used: {exc}") from None
            if key is not None:
                self._current = key
                self._keys[key.id] = key
                self._redact_texts([key.text])
        if key_id is None and self._current is not None:
            return self._current
        if key_id is not None and key_id in self._keys:
            return self._keys[key_id]
        raise CannotOpen(f"no key of {self.path} has the id {key_id}")

    def _open(self, secret: SealedSecret) -> str:
        try:
            return self._open_as(secret.ciphertext, secret.key_id)
        except (KeyError, CannotOpen):
            reason = f"cannot be opened with the key file {self.path}"
            raise MissingSecret(secret.name, reason) from None

    def _open_as(self, sealed: bytes, key_id: str) -> str:
        """KeyError when no key of this process has ``key_id``; CannotOpen."""
        return self._keys[key_id].open(sealed)

    def _redact(self, values: Iterable[str]) -> None:
        self._redact_texts(secret_texts(values))

    def _redact_texts(self, texts: Iterable[str]) -> None:
        if self.redactor is not None:
            self.redactor.add(texts)


def check_name(name: str) -> None:
    """ValueError unless ``name`` is a secret's name (an environment variable's)."""
    if not SECRET_NAME.fullmatch(name):
        raise ValueError(
            "A secret's name is letters, digits and _, not starting with a digit, "
            "at most 128 characters."
        )
