"""Building HTML where every string is escaped unless it is already markup.

Answers, case inputs, facts, prompts and names are untrusted: a model can answer
`<script>...</script>`. Everything the report writes goes through `el`, which escapes text
children and attribute values; only `Markup` (made here or by the chart builders from escaped
parts) passes through as is.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Iterable
from typing import Any


class Markup(str):
    """A string that is already safe HTML."""

    __slots__ = ()


def esc(value: object) -> Markup:
    """Text or a number as HTML text; Markup stays as it is."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(str(value), quote=True))


def join(parts: Iterable[object]) -> Markup:
    return Markup("".join(_render(p) for p in parts))


def _render(child: object) -> str:
    if child is None or child is False:
        return ""
    if isinstance(child, str | int | float):
        return esc(child)
    if isinstance(child, Iterable):
        return join(child)
    raise TypeError(f"cannot render {type(child).__name__} as HTML")


def el(tag: str, *children: object, **attrs: object) -> Markup:
    """<tag attrs>children</tag>; `class_` is class, `data_x` is data-x; True is a bare
    attribute, None or False leaves it out."""
    parts = [tag]
    for name, value in attrs.items():
        if value is None or value is False:
            continue
        key = name.rstrip("_").replace("_", "-")
        parts.append(key if value is True else f'{key}="{esc(value)}"')
    opening = "<" + " ".join(parts) + ">"
    if tag in _VOID:
        return Markup(opening)
    return Markup(f"{opening}{join(children)}</{tag}>")


_VOID = {"meta", "input", "br", "hr", "link", "img"}


def json_script(element_id: str, data: Any) -> Markup:
    """Data for the page's script, as JSON inside <script type="application/json">.

    `<`, `>` and `&` become \\u escapes, so no string in the data can close the element or
    open a comment; JSON.parse reads them back unchanged.
    """
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(f'<script type="application/json" id="{esc(element_id)}">{text}</script>')


def csp_hash(source: str) -> str:
    """The Content-Security-Policy source for an inline <script> or <style> with this text."""
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"
