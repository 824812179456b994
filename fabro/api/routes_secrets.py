"""The route table's rows for secrets (issue 19), appended to ``fabro.api.routes.ROUTES``.

Every one needs the admin role; no answer ever carries a secret's value.
"""

from __future__ import annotations

from fabro.api.bodies.secrets import (
    PaginatedSecretList,
    SecretItem,
    SecretRotation,
    SetSecretRequest,
)
from fabro.api.operations import Route
from fabro.governance.roles import Role

SECRET_ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/secrets",
        "listSecrets",
        "Secrets",
        "Secrets' names and dates, by name; never a value (fabro)",
        "REAL",
        200,
        PaginatedSecretList,
        paginated=True,
        role=Role.ADMIN,
    ),
    Route(
        "PUT",
        "/secrets/{name}",
        "setSecret",
        "Secrets",
        "Set a secret: 201 when created, 200 when replaced (fabro)",
        "REAL",
        201,
        SecretItem,
        body=SetSecretRequest,
        also=(200,),
        role=Role.ADMIN,
    ),
    Route(
        "DELETE",
        "/secrets/{name}",
        "deleteSecret",
        "Secrets",
        "Delete a secret (fabro)",
        "REAL",
        204,
        None,
        role=Role.ADMIN,
    ),
    Route(
        "POST",
        "/secrets/rotate",
        "rotateSecrets",
        "Secrets",
        "A new key; every value re-sealed under it in one transaction (fabro)",
        "REAL",
        200,
        SecretRotation,
        role=Role.ADMIN,
    ),
)
