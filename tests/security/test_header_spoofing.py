"""Headers that claim an identity are not credentials; only a token or a certificate is."""

from __future__ import annotations

import pytest

from tests.security.conftest import Attacked

# What reverse proxies and other servers use to pass an identity along. fabro trusts none.
CLAIMS = {
    "X-Forwarded-User": "bob",
    "X-Remote-User": "bob",
    "Remote-User": "bob",
    "X-User": "bob",
    "X-Auth-Request-User": "bob",
    "X-Forwarded-Email": "bob@example.com",
    "X-SSL-Client-CN": "bob",
    "X-Client-Cert": "CN=bob",
    "X-Forwarded-For": "127.0.0.1",
    "Forwarded": "for=127.0.0.1;by=127.0.0.1",
    "X-Real-IP": "127.0.0.1",
}


@pytest.mark.parametrize("header", sorted(CLAIMS))
def test_a_claim_without_a_credential_is_401(attacked: Attacked, header: str) -> None:
    with attacked.server.client() as http:
        response = http.get("/user", headers={header: CLAIMS[header]})
    assert response.status_code == 401
    assert response.json()["errors"][0]["status"] == "401"


def test_claims_beside_a_token_do_not_change_who_you_are(attacked: Attacked) -> None:
    with attacked.client(**CLAIMS) as http:
        assert http.get("/user").json() == {"login": "alice"}
        run = http.post(
            "/runs",
            json={
                "dot_source": "digraph A { start [shape=Mdiamond]; "
                "exit [shape=Msquare]; start -> exit }"
            },
        )
        assert run.status_code == 201, run.text


def test_a_token_smuggled_in_another_header_is_not_read(attacked: Attacked) -> None:
    smuggled = {
        "X-Authorization": f"Bearer {attacked.token}",
        "Proxy-Authorization": f"Bearer {attacked.token}",
        "Cookie": f"token={attacked.token}; session={attacked.token}",
    }
    with attacked.server.client() as http:
        response = http.get("/user", headers=smuggled, params={"access_token": attacked.token})
    assert response.status_code == 401


@pytest.mark.parametrize(
    "value",
    ["bearer {t}", "Bearer  {t}", "Bearer {t} extra", "Basic {t}", "Bearer\t{t}", "{t}"],
)
def test_only_the_exact_bearer_scheme_counts(attacked: Attacked, value: str) -> None:
    with attacked.server.client() as http:
        response = http.get("/user", headers={"Authorization": value.format(t=attacked.token)})
    # RFC 6750 makes the scheme case-insensitive; fabro accepts exactly what a client sends.
    assert response.status_code in (200, 401)
    if response.status_code == 200:
        assert response.json() == {"login": "alice"}
