from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fabro.events.redact import (
    REDACTED,
    SECRET_ENV_VARS,
    Redactor,
    is_secret_env_name,
    redact,
    redactor_for,
    secret_values,
)

NO_ENV: dict[str, str] = {}


def r(text: str, env: dict[str, str] = NO_ENV) -> str:
    return redact(text, env)


# -- 1. exact values of secret environment variables ---------------------------------------------


@pytest.mark.parametrize("name", SECRET_ENV_VARS)
def test_named_provider_keys_are_redacted(name: str) -> None:
    env = {name: "plainvalue123"}
    assert r("key plainvalue123 used twice: plainvalue123.", env) == (
        f"key {REDACTED} used twice: {REDACTED}."
    )


@pytest.mark.parametrize(
    "name",
    ["MY_SERVICE_TOKEN", "db_password", "Vendor_Api_Key", "OAUTH_SECRET", "FABRO_JWT_PRIVATE_KEY"],
)
def test_variables_filtered_from_commands_are_redacted(name: str) -> None:
    assert r("value=xx plainvalue123 yy", {name: "plainvalue123"}) == f"value=xx {REDACTED} yy"


@pytest.mark.parametrize(
    ("env", "text"),
    [
        ({"OPENAI_API_KEY": "short12"}, "short12"),  # 7 characters: too short to be specific
        ({"EDITOR": "plainvalue123"}, "plainvalue123"),  # not a secret variable
        ({"HOME": "/home/someone"}, "/home/someone"),
        ({"TOKENIZER": "plainvalue123"}, "plainvalue123"),  # _TOKEN only as a suffix
        ({"OPENAI_API_KEY": ""}, "an empty value redacts nothing"),
    ],
)
def test_exact_values_do_not_fire(env: dict[str, str], text: str) -> None:
    assert r(text, env) == text


def test_a_secret_containing_another_is_replaced_whole() -> None:
    env = {"A_TOKEN": "abcdefgh", "B_TOKEN": "abcdefgh-longer"}
    assert r("x abcdefgh-longer y abcdefgh", env) == f"x {REDACTED} y {REDACTED}"


def test_secret_values_are_literal_not_patterns() -> None:
    env = {"A_TOKEN": "a.b*c+d?e(f"}
    assert r("a.b*c+d?e(f and aXbbbcd", env) == f"{REDACTED} and aXbbbcd"


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("ANTHROPIC_API_KEY", True),
        ("github_token", True),
        ("X_SECRET", True),
        ("X_PASSWORD", True),
        ("FABRO_JWT_ISSUER", True),
        ("fabro_jwt_public_key", True),
        ("PATH", False),
        ("HOME", False),
        ("TOKEN", False),  # no underscore before the suffix
        ("SECRETS_DIR", False),
        ("FABRO_TOKEN_FILE", False),
    ],
)
def test_is_secret_env_name(name: str, secret: bool) -> None:
    assert is_secret_env_name(name) is secret


def test_secret_values_reads_only_long_enough_secret_values() -> None:
    env = {"OPENAI_API_KEY": "k" * 8, "X_TOKEN": "short", "EDITOR": "vim-vim-vim"}
    assert secret_values(env) == frozenset({"k" * 8})


def test_environment_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZAI_API_KEY", "zai-secret-value")
    assert redact("uses zai-secret-value") == f"uses {REDACTED}"
    monkeypatch.delenv("ZAI_API_KEY")
    assert redact("uses zai-secret-value") == "uses zai-secret-value"


def test_redactors_are_compiled_once_per_set_of_secrets() -> None:
    env = {"KIMI_API_KEY": "kimi-secret-for-cache-test"}
    redact("warm up", env)
    before = redactor_for.cache_info()
    redact("again", env)
    redact({"and": ["again"]}, env)
    after = redactor_for.cache_info()
    assert after.hits == before.hits + 2
    assert after.misses == before.misses


# -- 2. token patterns ---------------------------------------------------------------------------

TOKENS = {
    "anthropic": "sk-ant-api03-" + "a1_B-" * 5,
    "openai": "sk-" + "A" * 20,
    "openai project": "sk-proj-" + "x9" * 12,
    "github pat": "ghp_" + "a" * 36,
    "github oauth": "gho_" + "B1" * 20,
    "github user": "ghu_" + "c" * 40,
    "github server": "ghs_" + "d" * 36,
    "github refresh": "ghr_" + "e" * 36,
    "slack bot": "xoxb-1234-5678-abcdef",
    "slack app": "xoxa-" + "z" * 10,
    "slack user": "xoxp-" + "9" * 12,
    "aws": "AKIA" + "ABCDEFGH12345678",
    "google": "AIza" + "Sy_-" + "a" * 31,
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlF",
}


@pytest.mark.parametrize("token", TOKENS.values(), ids=TOKENS.keys())
@pytest.mark.parametrize("template", ["{}", "key: {} end", "'{}'", "x={}\n", "(\n{}\n)"])
def test_token_patterns_fire(token: str, template: str) -> None:
    assert r(template.format(token)) == template.format(REDACTED)


@pytest.mark.parametrize(
    "text",
    [
        "sk-short",
        "sk-" + "a" * 19,
        "task-runner-timeout-handling-for-the-queue",  # "sk-" inside an ordinary slug
        "ghp_" + "a" * 35,
        "ghx_" + "a" * 40,
        "xoxz-1234567890",
        "xoxb-123",
        "AKIA1234",
        "AKIAabcdefghijklmnop",  # lower case is not an access key id
        "AIza" + "a" * 34,
        "eyJhbGciOi.short.parts",
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZI\n-----END PUBLIC KEY-----",
        "an ordinary sentence about tokens, secrets and passwords",
        "Stage completed: plan",
    ],
)
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert r(text) == text


@pytest.mark.parametrize("kind", ["", "RSA ", "EC ", "OPENSSH ", "ENCRYPTED "])
def test_private_key_blocks_are_redacted(kind: str) -> None:
    block = f"-----BEGIN {kind}PRIVATE KEY-----\nMIIEow+/=\nAIBAAK\n-----END {kind}PRIVATE KEY-----"
    assert r(f"before\n{block}\nafter") == f"before\n{REDACTED}\nafter"


def test_two_private_key_blocks_keep_the_text_between_them() -> None:
    block = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"
    assert r(f"{block} middle {block}") == f"{REDACTED} middle {REDACTED}"


def test_a_private_key_cut_before_its_footer_is_redacted_to_the_end() -> None:
    assert r("out\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA") == f"out\n{REDACTED}"


def test_a_private_key_cut_before_its_header_loses_its_base64_lines() -> None:
    text = "[... truncated ...]\nEowIBAAKCAQEA\nabc+/=\n-----END RSA PRIVATE KEY-----\ndone"
    assert r(text) == f"[... truncated ...]\n{REDACTED}\ndone"


# -- 3. bearer tokens ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abcdefghijklmnop", f"Authorization: Bearer {REDACTED}"),
        ("bearer  a.b_c~d+e/f=g-hijklmnop", f"Bearer {REDACTED}"),
        ("BEARER\tABCDEFGHIJKLMNOPQRST rest", f"Bearer {REDACTED} rest"),
        ("Bearer abcdefghijklmno", "Bearer abcdefghijklmno"),  # 15 characters
        ("the bearer of bad news", "the bearer of bad news"),
    ],
)
def test_bearer_tokens(text: str, expected: str) -> None:
    assert r(text) == expected


# -- 4. key=value secrets ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("API_KEY=abcdefgh1", f"API_KEY={REDACTED}"),
        ("export OPENAI_API_KEY=abc123xyz789 && run", f"export OPENAI_API_KEY={REDACTED} && run"),
        ('{"token": "abcdefgh1"}', f'{{"token": "{REDACTED}"}}'),
        ("password: hunter2hunter2", f"password: {REDACTED}"),
        ("Secret = 'abcdefgh1', other", f"Secret = '{REDACTED}', other"),
        ("api-key:abcdefghij", f"api-key:{REDACTED}"),
        ("apikey = abcdefghij", f"apikey = {REDACTED}"),
        ("client_secret=abcdefgh", f"client_secret={REDACTED}"),
        ("password=short", "password=short"),  # fewer than 8 characters
        ("max_tokens=4096000000", "max_tokens=4096000000"),  # "tokens", not "token"
        ("the token is abcdefghijk", "the token is abcdefghijk"),  # no separator
    ],
)
def test_key_value_secrets(text: str, expected: str) -> None:
    assert r(text) == expected


# -- structures ----------------------------------------------------------------------------------


def test_every_string_in_a_structure_is_redacted_and_keys_are_kept() -> None:
    token = TOKENS["github pat"]
    value: dict[str, Any] = {
        token: [token, {"nested": (token, 1)}],
        "n": 3,
        "f": 1.5,
        "b": True,
        "none": None,
        "ok": "fine",
    }
    assert redact(value, NO_ENV) == {
        token: [REDACTED, {"nested": (REDACTED, 1)}],
        "n": 3,
        "f": 1.5,
        "b": True,
        "none": None,
        "ok": "fine",
    }
    assert value[token][0] == token  # the input is not modified


def test_an_event_payload_is_redacted_before_storage() -> None:
    payload = {"Prompt": {"stage": "plan", "text": "use ANTHROPIC_API_KEY=sk-ant-" + "x" * 30}}
    assert redact(payload, NO_ENV) == {
        "Prompt": {"stage": "plan", "text": f"use ANTHROPIC_API_KEY={REDACTED}"}
    }


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer " + TOKENS["openai"],
        "token=" + TOKENS["jwt"],
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
        "password: hunter2hunter2",
    ],
)
def test_redaction_is_idempotent(text: str) -> None:
    once = r(text)
    assert REDACTED in once
    assert r(once) == once


def test_redactor_without_secrets_still_applies_patterns() -> None:
    assert Redactor().text(TOKENS["aws"]) == REDACTED
    assert Redactor(["tiny"]).text("tiny") == "tiny"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("]\n-----END PRIVATE KEY-----", f"]\n{REDACTED}"),
        ("-----END PRIVATE KEY-----", REDACTED),
        (
            "AAAA\n-----END EC PRIVATE KEY-----\nx: BBBB\n-----END PRIVATE KEY-----",
            f"{REDACTED}\nx: {REDACTED}",
        ),
    ],
)
def test_orphan_footers(text: str, expected: str) -> None:
    assert r(text) == expected


def test_long_base64_output_is_redacted_in_linear_time() -> None:
    blob = ("QUJD" * 19 + "\n") * 5_000  # ~380 KB of base64 lines, like a dumped file
    text = f"{blob}! {blob}-----END PRIVATE KEY-----\n{blob}"
    start = time.perf_counter()
    result = r(text)
    assert time.perf_counter() - start < 2.0
    assert result == f"{blob}! {REDACTED}\n{blob}"


# -- payloads redacted through their JSON text (Redactor.encode_own) -----------------------------

SECRET = 'pa"ss\\wo\nrd-0123456789'  # escaped in JSON text: quote, backslash, line break
TRIGGERING = [
    *TOKENS.values(),
    SECRET,
    "Bearer abcdefghijklmnop1234",
    "BEARER abcdefghijklmnop1234",
    "api_key=abcdefgh1234",
    "AP\u0130_KEY=abcdefgh1234",  # İ: what (?i) matches for an i
    "ap\u0131_key=abcdefgh1234",
    '{"token": "abcdefgh1234"}',  # JSON inside a string: its quotes are escaped in the text
    'the "tokens": secret=abcdefgh1234',
    "x token=abcdefgh1234",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
    "MIIEowIBAAKCAQEA\n-----END PRIVATE KEY-----",
]


def _walked(redactor: Redactor, payload: dict[str, Any]) -> str:
    from fabro import jsontext

    return jsontext.dumps(redactor.value(payload))


@pytest.mark.parametrize("text", TRIGGERING)
@pytest.mark.parametrize(
    "shape",
    [
        lambda text: {"Prompt": {"stage": "plan", "text": text}},
        lambda text: {"Agent": {"event": {"AssistantMessage": {"text": f"see: {text} ok"}}}},
        lambda text: {"X": {"list": ["a", ["b", text]], "n": 1, "input_tokens": 3}},
    ],
)
def test_encode_own_redacts_what_walking_redacts(text: str, shape: Any) -> None:
    redactor = Redactor([SECRET])
    payload = shape(text)
    expected = _walked(redactor, shape(text))
    assert REDACTED in expected
    assert redactor.encode_own([{"ordinary": "text"}, payload]) == ['{"ordinary":"text"}', expected]
    assert _walked(Redactor(), payload) == expected  # the payload was redacted in place too


def test_encode_own_leaves_ordinary_payloads_and_keys_alone() -> None:
    redactor = Redactor([SECRET])
    payload = {
        "StageCompleted": {
            "name": "Stage completed: plan",
            "usage": {"model": "claude-opus-4-6", "input_tokens": 0, "output_tokens": 0},
            "notes": "an ordinary sentence",
            "api_key=abcdefgh1234": "a key is never changed",
        }
    }
    (text,) = redactor.encode_own([payload])
    assert text == _walked(redactor, payload)
    assert "api_key=abcdefgh1234" in text


def test_only_key_ends_are_exempt_from_the_token_trigger() -> None:
    redactor = Redactor()
    assert not redactor._could_change('{"input_tokens":1,"total_tokens":2}')
    assert redactor._could_change('{"text":"tokens"}')
    assert redactor._could_change('{"text":"the \\"tokens\\": here"}')


json_strings = st.text(alphabet=st.sampled_from(list('akptioenbrsAKP:="\\\n -_xyzIJ012'))) | (
    st.sampled_from(TRIGGERING)
)
payloads = st.recursive(
    json_strings | st.integers() | st.none(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(json_strings, inner, max_size=3),
    max_leaves=12,
).map(lambda value: {"Event": {"value": value}})


@given(payloads)
def test_encode_own_always_agrees_with_walking(payload: dict[str, Any]) -> None:
    redactor = Redactor([SECRET, "plain-secret-value"])
    expected = _walked(redactor, payload)
    assert redactor.encode_own([payload]) == [expected]


def test_a_redactor_grows_at_run_time_and_forgets_no_remembered_result() -> None:
    redactor = Redactor(["first-secret-value"])
    short, long = "id new-secret-1", "x" * 80 + " new-secret-1 " + "y"
    assert redactor.text(short) == short and redactor.text(long) == long  # remembered as is
    assert redactor.add(["new-secret-1", "short"]) is True
    assert redactor.add(["new-secret-1"]) is False  # known already
    assert redactor.text(short) == f"id {REDACTED}"
    assert redactor.text(long) == "x" * 80 + f" {REDACTED} " + "y"
    assert redactor.text("a short one") == "a short one"  # under MIN_SECRET_LENGTH: left out
    assert redactor.text("first-secret-value") == REDACTED
    assert redactor.longest == len("first-secret-value")
