"""Bodies of secrets (issue 19): a value goes in, and no body ever carries one out."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from fabro.api.bodies.common import Body, Page
from fabro.secrets.vault import MAX_VALUE_CHARS, MIN_VALUE_CHARS
from fabro.storage.secrets import SecretInfo


class SetSecretRequest(Body):
    """The secret's value: stored sealed, handed to the stages that name it, redacted by value
    wherever it appears. At least 8 characters: a shorter value cannot be told apart from
    ordinary text to redact it."""

    value: Annotated[str, Meta(min_length=MIN_VALUE_CHARS, max_length=MAX_VALUE_CHARS)]


class SecretItem(Body):
    """A secret's name and dates; its value is never shown."""

    name: str
    created_at: str
    updated_at: str

    @classmethod
    def from_info(cls, info: SecretInfo) -> SecretItem:
        return cls(name=info.name, created_at=info.created_at, updated_at=info.updated_at)


class PaginatedSecretList(Page[SecretItem]):
    pass


class SecretRotation(Body):
    """A finished key rotation: how many values were re-sealed under the new key, and its id
    (a digest naming the key, not the key)."""

    resealed: int
    key_id: str
