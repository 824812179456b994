"""Secrets at rest (schema version 11): each value sealed by fabro/secrets/box.py, the name of
the key that sealed it, and when it was set. Nothing here sees a value in clear: the vault
(fabro/secrets/vault.py) seals before it writes and opens after it reads.
"""

from __future__ import annotations

import base64
import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fabro.storage.connection import Row
from fabro.storage.db import Database
from fabro.storage.records import Page
from fabro.storage.writer import WriteTx


@dataclass(frozen=True)
class SecretInfo:
    """A secret as a list shows it: its name and dates, never its value."""

    name: str
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class SealedSecret:
    """A secret's stored row: its value sealed under the key ``key_id`` names."""

    name: str
    ciphertext: bytes
    key_id: str


@dataclass(frozen=True)
class SealedColumn:
    """A column of sealed values that a key rotation re-seals: its table, the column that
    names a row, the sealed value, and the column of the key's id; with no such column
    (``key_id`` None) the value is text that names its key (``sealed_text``). ``where``
    limits the rows (e.g. `sealed = 1`). Another area that seals with the secrets key
    (``Vault.sealer``) adds its column to SEALED_COLUMNS, so that a rotation re-seals it."""

    table: str
    name: str
    ciphertext: str
    key_id: str | None
    where: str = ""


SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    SealedColumn("secrets", "name", "ciphertext", "key_id"),
)


def sealed_text(ciphertext: bytes, key_id: str) -> str:
    """A sealed value as text that names its key: `<key id>.<base64>`."""
    return f"{key_id}.{base64.b64encode(ciphertext).decode('ascii')}"


def parse_sealed_text(text: str) -> tuple[bytes, str]:
    """The sealed bytes and the key's id of a ``sealed_text``; ValueError if it is not one."""
    key_id, dot, encoded = text.partition(".")
    if not dot or not key_id:
        raise ValueError("not a sealed text")
    return base64.b64decode(encoded, validate=True), key_id


# (sealed value, its key's id) -> the same value sealed under the new key, and that key's id.
Reseal = Callable[[bytes, str], tuple[bytes, str]]


class SecretRows:
    """The secrets table of one database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def put(self, name: str, ciphertext: bytes, key_id: str, now: str) -> bool:
        """Store ``name``'s sealed value (created, or replaced keeping its creation date);
        True when it was created."""

        def write(tx: WriteTx) -> bool:
            existed = tx.fetchone("SELECT 1 FROM secrets WHERE name = ?", [name]) is not None
            tx.execute(
                "INSERT INTO secrets (name, ciphertext, key_id, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
                " ciphertext = excluded.ciphertext, key_id = excluded.key_id,"
                " updated_at = excluded.updated_at",
                [name, ciphertext, key_id, now, now],
            )
            return not existed

        return await self.db.write(write)

    async def delete(self, name: str) -> bool:
        """Forget ``name``; False when there was no such secret."""
        deleted = await self.db.write(
            lambda tx: tx.execute("DELETE FROM secrets WHERE name = ?", [name])
        )
        return deleted > 0

    async def info(self, name: str) -> SecretInfo | None:
        row = await self.db.fetchone(
            "SELECT name, created_at, updated_at FROM secrets WHERE name = ?", [name]
        )
        return None if row is None else _info(row)

    async def list(self, *, limit: int, offset: int) -> Page[SecretInfo]:
        """Names and dates, by name."""
        rows = await self.db.fetchall(
            "SELECT name, created_at, updated_at FROM secrets ORDER BY name LIMIT ? OFFSET ?",
            [limit + 1, offset],
        )
        return Page([_info(row) for row in rows[:limit]], len(rows) > limit)

    async def sealed(self, names: Sequence[str] | None = None) -> builtins.list[SealedSecret]:
        """The sealed values of ``names`` that exist (every secret's with None), by name."""
        if names is None:
            rows = await self.db.fetchall(
                "SELECT name, ciphertext, key_id FROM secrets ORDER BY name"
            )
        elif not names:
            return []
        else:
            marks = ", ".join("?" * len(names))
            rows = await self.db.fetchall(
                "SELECT name, ciphertext, key_id FROM secrets"
                f" WHERE name IN ({marks}) ORDER BY name",
                list(names),
            )
        return [SealedSecret(row["name"], bytes(row["ciphertext"]), row["key_id"]) for row in rows]

    async def uses_key(self, key_id: str) -> bool:
        """Whether any sealed value of SEALED_COLUMNS is sealed under ``key_id``."""
        for column in SEALED_COLUMNS:
            if column.key_id is None:
                test, value = f"substr({column.ciphertext}, 1, ?) = ?", f"{key_id}."
                params: list[object] = [len(value), value]
            else:
                test, params = f"{column.key_id} = ?", [key_id]
            where = f" AND ({column.where})" if column.where else ""
            row = await self.db.fetchone(
                f"SELECT 1 FROM {column.table} WHERE {test}{where} LIMIT 1", params
            )
            if row is not None:
                return True
        return False

    async def reseal_all(self, reseal: Reseal, key_id: str) -> int:
        """Every sealed value of SEALED_COLUMNS not sealed under ``key_id`` yet, re-sealed by
        ``reseal``, in one transaction (all or none); how many. ``reseal`` runs in the writer
        thread and may run twice (a group rolled back runs again): it must only compute."""

        def write(tx: WriteTx) -> int:
            count = 0
            for column in SEALED_COLUMNS:
                key = column.key_id or "NULL"
                where = f" WHERE {column.where}" if column.where else ""
                rows = tx.fetchall(
                    f"SELECT {column.name}, {column.ciphertext}, {key} FROM {column.table}{where}"
                )
                for row in rows:
                    if column.key_id is None:
                        sealed, old = parse_sealed_text(str(row[1]))
                    else:
                        sealed, old = bytes(row[1]), str(row[2])
                    if old == key_id:
                        continue
                    ciphertext, new = reseal(sealed, old)
                    stored: object = ciphertext
                    assignments = f"{column.ciphertext} = ?"
                    params: list[object] = []
                    if column.key_id is None:
                        stored = sealed_text(ciphertext, new)
                    else:
                        assignments += f", {column.key_id} = ?"
                        params.append(new)
                    tx.execute(
                        f"UPDATE {column.table} SET {assignments} WHERE {column.name} = ?",
                        [stored, *params, row[0]],
                    )
                    count += 1
            return count

        return await self.db.write(write)


def _info(row: Row) -> SecretInfo:
    return SecretInfo(row["name"], row["created_at"], row["updated_at"])
