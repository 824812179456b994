"""docs/client-reference.md, generated from the SDK's signatures and docstrings.

`python -m fabro.client.reference > docs/client-reference.md` writes it again;
tests/docs/test_client_reference.py fails while the page and the code disagree.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from typing import Any

from fabro.client import errors
from fabro.client.endpoints import Endpoints
from fabro.client.methods import Iterating, Returning
from fabro.client.transport import Configured

INTRO = """# Python client reference

Generated from the code by `python -m fabro.client.reference` (the guide is
[The Python client](client.md)). Every method below is a method of `FabroClient` and of
`AsyncFabroClient`: on `FabroClient` it returns its result (a list method returns an
iterator), on `AsyncFabroClient` it returns an awaitable (a list method, an async iterator).
Results are the server's body types, from `fabro.api.bodies`.
"""


def _signature(function: Callable[..., Any]) -> str:
    """``name(arguments)`` as written, without ``self`` and the return annotation."""
    written = []
    keyword_only = False
    for parameter in list(inspect.signature(function).parameters.values())[1:]:
        if parameter.kind is parameter.KEYWORD_ONLY and not keyword_only:
            written.append("*")
            keyword_only = True
        text = parameter.name
        if parameter.kind is parameter.VAR_KEYWORD:
            text = f"**{text}"
        if parameter.annotation is not parameter.empty:
            text += f": {parameter.annotation}"
        if parameter.default is not parameter.empty:
            text += f" = {parameter.default!r}"
        written.append(text)
    return f"{function.__name__}({', '.join(written)})"


def _result(function: Callable[..., Any]) -> str:
    """The ``T`` of a builder's ``Call[T]``, ``PagedCall[T]``, ``Program[T]`` or
    ``Events[T]`` annotation."""
    annotation = str(inspect.signature(function).return_annotation)
    match = re.fullmatch(r"(?:Call|PagedCall|Program|Events)\[(.*)\]", annotation)
    return match[1] if match else annotation


def _doc(function: Callable[..., Any]) -> str:
    return inspect.cleandoc(function.__doc__ or "")


def _methods() -> Iterator[str]:
    # Area by area, in the order of Endpoints' bases (fabro/client/endpoints/__init__.py).
    for member in (m for area in Endpoints.__mro__ for m in vars(area).values()):
        if not isinstance(member, Returning | Iterating):
            continue
        result = _result(member.build)
        if isinstance(member, Returning):
            gives = "Returns nothing." if result == "None" else f"Returns `{result}`."
        elif member.kind == "frames":
            gives = "Yields each streamed event (a JSON object) as it arrives."
        elif member.kind == "pages":
            gives = f"Yields every `{result}`, page after page."
        else:
            gives = f"Yields each `{result}` as it comes."
        yield f"### `{_signature(member.build)}`\n\n{gives}\n\n{_doc(member.build)}\n"


def _errors() -> Iterator[str]:
    for cls in errors.FabroApiError.__subclasses__():
        yield f"- `{cls.__name__}`: {cls.STATUS}"


def reference_markdown() -> str:
    parts = [
        INTRO,
        "## Making a client\n",
        f"`FabroClient{_signature(Configured.__init__).removeprefix('__init__')}`\n",
        _doc(Configured) + "\n",
        "## Methods\n",
        *_methods(),
        "## Errors\n",
        "An error answer raises the `FabroApiError` subclass of its status, with `status`, "
        "`title` and `detail` from the API's error envelope (`fabro.client.errors`); a server "
        "that cannot be reached raises `FabroConnectionError`.\n",
        "\n".join(_errors()) + "\n",
    ]
    return "\n".join(parts)


if __name__ == "__main__":
    print(reference_markdown(), end="")
