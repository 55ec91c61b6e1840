"""A promptfoo config's prompt, as the template each test's input is rendered through.

Only a simple template is rendered: text with `{{ var }}` placeholders (`{{ a.b }}` reads into
an object var), or a chat prompt of system messages and one user message written that way.
Nunjucks tags, filters and expressions (`{% if %}`, `{{ x | upper }}`), prompt functions and
multi-turn chats are not: each test's input is then its question var, and the report says so.
Lines holding the facts var are left out of the input: rung injects the facts itself, in the
with-facts arm only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.importers.common import SuiteBuilder, as_text, in_file
from app.importers.records import parse_yaml

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}\}")
_ANY_TAG = re.compile(r"\{\{.*?\}\}|\{%|\{#", re.DOTALL)
_LABEL = re.compile(r"\s*(?:[\w ()/-]{1,40}:|<[\w-]+>)\s*")
_CLOSING = re.compile(r"\s*</[\w-]+>\s*")
_CODE = (".js", ".cjs", ".mjs", ".ts", ".py")
QUESTION_VARS = ("question", "query", "input", "prompt", "text")

Load = Callable[[str, str], str | None]  # (file:// reference, where) -> its text, or None


@dataclass(frozen=True)
class Prompt:
    loc: str
    user: str | None  # the input template; None when the prompt is not a simple template
    system: str | None = None

    def render(
        self, vars: dict[str, Any], facts_var: str
    ) -> tuple[str | None, str | None, list[str]]:
        """(input, system prompt, vars the templates name that the test does not set)."""
        missing: list[str] = []
        if self.user is None:
            return None, None, missing
        text = _render(_without_var(self.user, facts_var), vars, missing)
        system = (
            _render(_without_var(self.system, facts_var), vars, missing) if self.system else None
        )
        return text, system, missing


def is_simple(template: str) -> bool:
    return all(_PLACEHOLDER.fullmatch(tag.group(0)) for tag in _ANY_TAG.finditer(template))


def uses_var(template: str | None, var: str) -> bool:
    return bool(template) and any(
        m.group(1).split(".")[0] == var for m in _PLACEHOLDER.finditer(template or "")
    )


def from_config(config: dict[str, Any], load: Load, builder: SuiteBuilder) -> Prompt:
    """The config's first prompt (promptfoo runs every test through each one)."""
    raw = config.get("prompts")
    if raw is None:
        builder.warn("prompts", "the config has no prompts: each test's input is its question var")
        return Prompt("prompts", None)
    entries = list(raw) if isinstance(raw, list | dict) else [raw]
    if not entries:
        return Prompt("prompts", None)
    loc = "prompts[0]" if isinstance(raw, list) else "prompts"
    first = entries[0]
    if isinstance(first, dict):
        first = first.get("raw") or first.get("id")
    prompts = _expand(first, loc, load)
    if len(entries) > 1 or len(prompts) > 1:
        builder.warn(
            loc,
            "the config has several prompts and promptfoo runs every test through each: the "
            "tests are rendered through the first only (name another with prompt)",
        )
    prompt = prompts[0] if prompts else Prompt(loc, None)
    if prompt.user is None:
        builder.warn(
            loc,
            "the prompt is not a simple {{var}} template (a prompt function, Nunjucks tags or "
            "filters, a multi-turn chat, or a file not read): each test's input is its "
            "question var, not the rendered prompt",
        )
    return prompt


def _expand(entry: Any, loc: str, load: Load) -> list[Prompt]:
    """The prompts one entry stands for: a text file may hold several, split by `---` lines."""
    if isinstance(entry, list):
        return [_chat(entry, loc)]
    if not isinstance(entry, str):
        return [Prompt(loc, None)]
    if entry.startswith("file://"):
        path = entry.removeprefix("file://").split(":", 1)[0]
        if path.endswith(_CODE):
            return [Prompt(loc, None)]
        text = load(entry, loc)
        if text is None:
            return [Prompt(loc, None)]
        if path.endswith((".json", ".yaml", ".yml")):
            data = in_file(path, lambda: parse_yaml(text))
            return [_chat(data, loc) if isinstance(data, list) else _text(as_text(data) or "", loc)]
        return [_text(part, loc) for part in re.split(r"\n-{3,}\n", text) if part.strip()]
    if entry.lstrip().startswith("["):
        try:
            return [_chat(json.loads(entry), loc)]
        except ValueError:
            pass
    return [_text(entry, loc)]


def _text(template: str, loc: str) -> Prompt:
    return Prompt(loc, template.strip() if is_simple(template) else None)


def _chat(messages: Any, loc: str) -> Prompt:
    """System messages and one user message, each a simple template; anything else is not."""
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        return Prompt(loc, None)
    roles = [m.get("role") for m in messages]
    contents = [m.get("content") for m in messages]
    if roles.count("user") != 1 or roles[-1] != "user" or set(roles) - {"system", "user"}:
        return Prompt(loc, None)
    if not all(isinstance(c, str) and is_simple(c) for c in contents):
        return Prompt(loc, None)
    system = "\n\n".join(str(c) for c, r in zip(contents, roles, strict=True) if r == "system")
    return Prompt(loc, str(contents[-1]), system or None)


def _without_var(template: str | None, var: str) -> str:
    """The template without the lines that hold `var`, nor a label line just before them."""
    if not template or not uses_var(template, var):
        return template or ""
    lines: list[str] = []
    skip_closing = False
    inline = re.compile(rf"(?:\b[\w ]{{1,40}}:\s*)?\{{\{{\s*{re.escape(var)}(?:\.\w+)*\s*\}}\}}")
    for line in template.split("\n"):
        if uses_var(line, var) and any(
            m.group(1).split(".")[0] != var for m in _PLACEHOLDER.finditer(line)
        ):
            line = inline.sub("", line)  # the line holds other vars too: keep those
        elif uses_var(line, var):
            if lines and _LABEL.fullmatch(lines[-1]):
                lines.pop()
            skip_closing = True
            continue
        if skip_closing and _CLOSING.fullmatch(line):
            skip_closing = False
            continue
        skip_closing = False
        lines.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _render(template: str, vars: dict[str, Any], missing: list[str]) -> str:
    def value(match: re.Match[str]) -> str:
        found: Any = vars
        for part in match.group(1).split("."):
            if not isinstance(found, dict) or part not in found:
                missing.append(match.group(1))
                return ""  # as Nunjucks renders an undefined var
            found = found[part]
        return as_text(found) or ""

    return _PLACEHOLDER.sub(value, template)


def render_value(value: Any, vars: dict[str, Any]) -> Any:
    """An assertion's value with the test's vars substituted (`value: '{{reference}}'`)."""
    if isinstance(value, str) and is_simple(value):
        return _render(value, vars, [])
    if isinstance(value, list):
        return [render_value(item, vars) for item in value]
    return value


def input_from_vars(vars: dict[str, Any], facts_var: str) -> tuple[str, str]:
    """(the input, where it came from) when there is no template to render."""
    others = {k: v for k, v in vars.items() if k != facts_var}
    if len(others) == 1:
        key, value = next(iter(others.items()))
        return as_text(value) or "", f"vars.{key}"
    for key in QUESTION_VARS:
        if key in others:
            return as_text(others[key]) or "", f"vars.{key}"
    lines = [f"{key}: {as_text(value)}" for key, value in others.items()]
    return "\n".join(lines), "vars (as key: value lines)"
