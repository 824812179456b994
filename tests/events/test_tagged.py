from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from fabro.events.tagged import Tagged, decode_fields, decode_tagged, encode, encode_fields


@dataclass(frozen=True, kw_only=True)
class Inner:
    n: int

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n}

    @classmethod
    def from_json(cls, data: Any) -> Inner:
        return cls(n=data["n"])


@dataclass(frozen=True, kw_only=True)
class Toy(Tagged, variant="ToyTag"):
    required_nullable: Inner | None
    items: tuple[str, ...]
    either: int | str
    maybe: Inner | None = None


def test_variant_defaults_to_the_class_name_and_can_be_overridden() -> None:
    class Plain(Tagged):
        pass

    assert Plain.variant == "Plain"
    assert Toy.variant == "ToyTag"


@pytest.mark.parametrize(
    ("toy", "json"),
    [
        (
            Toy(required_nullable=None, items=(), either=1),
            {"required_nullable": None, "items": [], "either": 1},
        ),
        (
            Toy(required_nullable=Inner(n=1), items=("a",), either="x", maybe=Inner(n=2)),
            {"required_nullable": {"n": 1}, "items": ["a"], "either": "x", "maybe": {"n": 2}},
        ),
    ],
)
def test_encode_and_decode_fields(toy: Toy, json: dict[str, Any]) -> None:
    assert encode_fields(toy) == json
    assert decode_fields(Toy, json) == toy
    assert decode_tagged({"ToyTag": json}, {"ToyTag": Toy}, "toy") == toy


def test_encode_nested_containers() -> None:
    assert encode({"a": (Inner(n=1), [Inner(n=2)])}) == {"a": [{"n": 1}, [{"n": 2}]]}
