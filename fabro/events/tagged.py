"""JSON for frozen event dataclasses, externally tagged as ``{"Variant": {fields}}``.

Two conventions keep the event classes plain declarations:
- a field whose default is None is a ``?`` field of the spec: omitted from the JSON when None
  (nullable fields that are always present have no default);
- reading JSON back, a field annotated with a class that has ``from_json`` (or ``X | None``) is
  rebuilt by it, and a ``tuple[...]`` field from a list. Everything else is copied as is.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar, cast

Json = Any  # a value as produced by json.loads; too recursive to spell out usefully for mypy
JsonObject = dict[str, Json]
Decoder = Callable[[Json], Any]

T = TypeVar("T")


class Tagged:
    """Base of the tagged dataclasses; ``variant`` is the tag, the class name unless given."""

    variant: ClassVar[str]

    def __init_subclass__(cls, *, variant: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.variant = variant or cls.__name__


_PLAIN = frozenset({str, int, float, bool, type(None)})


def encode(value: Any) -> Json:
    """Turn a field value into JSON: nested types by their ``to_json``, tuples into lists."""
    if type(value) in _PLAIN:
        return value
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_json()
    if isinstance(value, list | tuple):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    return value


def encode_fields(obj: object) -> JsonObject:
    """The JSON object of a dataclass instance, leaving out ``?`` fields that are None."""
    out: JsonObject = {}
    for name, optional in _encode_plan(type(obj)):
        value = getattr(obj, name)
        if value is None and optional:  # a `?` field: left out when None
            continue
        out[name] = encode(value)
    return out


_encode_plans: dict[type, tuple[tuple[str, bool], ...]] = {}


def _encode_plan(cls: type) -> tuple[tuple[str, bool], ...]:
    """Each field's name and whether it is a ``?`` field, worked out once per class
    (``dataclasses.fields`` cost more than the rest of encoding a small event)."""
    plan = _encode_plans.get(cls)
    if plan is None:
        plan = tuple((field.name, field.default is None) for field in dataclasses.fields(cls))
        _encode_plans[cls] = plan
    return plan


def decode_fields(cls: type[T], raw: Json) -> T:
    """Build a dataclass from its JSON object; unknown keys are ignored (forward compatibility)."""
    if not isinstance(raw, dict):
        raise ValueError(f"{cls.__name__}: expected an object, got {type(raw).__name__}")
    kwargs: dict[str, Any] = {}
    for name, optional, decode in _field_plan(cls):
        if name in raw:
            value = raw[name]
        elif optional:
            continue
        else:
            raise ValueError(f"{cls.__name__}: missing field {name!r}")
        kwargs[name] = decode(value) if decode is not None and value is not None else value
    return cls(**kwargs)


def decode_tagged(data: Json, variants: Mapping[str, type[T]], what: str) -> T:
    """Rebuild a variant from ``{"Variant": {...}}`` (or ``"Variant"`` when it has no fields)."""
    fields: Json
    if isinstance(data, str):
        name, fields = data, {}
    elif isinstance(data, dict) and len(data) == 1:
        ((name, fields),) = data.items()
    else:
        raise ValueError(f"{what} must be an object with exactly one key (its variant)")
    cls = variants.get(name)
    if cls is None:
        raise ValueError(f"Unknown {what} variant {name!r}")
    return decode_fields(cls, fields)


_FieldPlan = tuple[tuple[str, bool, Decoder | None], ...]  # (name, optional, decoder) per field
_plans: dict[type, _FieldPlan] = {}


def _field_plan(cls: type) -> _FieldPlan:
    """How to read each field of ``cls``, worked out once per class from its annotations."""
    plan = _plans.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls)
        plan = tuple(
            (field.name, field.default is None, _decoder_for(hints[field.name]))
            for field in dataclasses.fields(cls)
        )
        _plans[cls] = plan
    return plan


def _decoder_for(hint: Any) -> Decoder | None:
    if isinstance(hint, types.UnionType):  # X | None: decode as X (a null stays None)
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(args) != 1:
            return None  # a wider union is copied as is
        hint = args[0]
    if typing.get_origin(hint) is tuple:
        return tuple
    from_json = getattr(hint, "from_json", None)
    return cast(Decoder, from_json) if callable(from_json) else None
