"""Chat-message inputs (Inspect AI, OpenAI evals) as what rung sends: a system prompt and one
user message.

A system (or developer) message becomes the system prompt. Earlier user and assistant turns,
and OpenAI evals' few-shot examples (system messages named `example_user` /
`example_assistant`), are written into the input before the last user message, so the model
still sees them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.importers.common import SuiteBuilder, as_text, at, fail, text_list

_TEXT_PARTS = ("text", "input_text", "output_text")
_FEW_SHOT = {"example_user": "User", "example_assistant": "Assistant"}
_SAMPLE_FIELDS = ("input", "target", "ideal", "id", "metadata", "choices")
_SPEAKER = {"user": "User", "assistant": "Assistant", "tool": "Tool"}


@dataclass(frozen=True)
class Conversation:
    system: str | None
    input: str
    earlier_turns: int


class Unusable(Exception):
    """A well-formed input rung cannot send (an image, a prefilled answer): drop the case."""


def read_input(value: Any, loc: str) -> Conversation:
    """A string, or a list of chat messages; raises Unusable or ImportFailed (malformed)."""
    if isinstance(value, str):
        if not value.strip():
            raise Unusable("the input is empty")
        return Conversation(system=None, input=value, earlier_turns=0)
    if not isinstance(value, list) or not value:
        fail(loc, "must be a string or a non-empty list of chat messages")
    system: list[str] = []
    turns: list[tuple[str, str]] = []
    for index, message in enumerate(value):
        where = at(loc, index)
        if not isinstance(message, dict):
            fail(where, "a chat message must be an object with role and content")
        role = message.get("role")
        if role not in ("system", "developer", "user", "assistant", "tool"):
            fail(at(where, "role"), "must be system, developer, user, assistant or tool")
        text = _content(message.get("content"), at(where, "content"), index)
        example = _FEW_SHOT.get(str(message.get("name", "")))
        if role in ("system", "developer") and example:
            turns.append((example, text))
        elif role in ("system", "developer"):
            if turns:
                raise Unusable(f"input message {index} is a system message after the turns began")
            system.append(text)
        else:
            turns.append((_SPEAKER[str(role)], text))
    if not turns:  # only a system message: that message is the task itself
        return Conversation(system=None, input="\n\n".join(system), earlier_turns=0)
    last_speaker, last = turns[-1]
    if last_speaker != "User":
        raise Unusable(
            f"the input ends with a message from the {last_speaker.lower()} (a prefill): rung "
            "sends one user message and grades the model's whole reply"
        )
    earlier = turns[:-1]
    text = last
    if earlier:
        transcript = "\n".join(f"{speaker}: {said}" for speaker, said in earlier)
        text = f"{transcript}\n\n{last}"
    return Conversation(system="\n\n".join(system) or None, input=text, earlier_turns=len(earlier))


def _content(content: Any, loc: str, message: int) -> str:
    """A message's text: a string, or a list of content parts that are all text."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        fail(loc, "must be a string or a list of content parts")
    texts: list[str] = []
    for index, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            fail(at(loc, index), "a content part must be an object with a type")
        if part["type"] not in _TEXT_PARTS:
            raise Unusable(
                f"input message {message} holds {part['type']!r} content: rung sends text only"
            )
        texts.append(as_text(part.get("text")) or "")
    return "\n".join(texts)


def facts_from(record: dict[str, Any], field: str) -> tuple[str, Any] | None:
    """(where, value) of the facts field: in the record's metadata, else the record itself."""
    metadata = record.get("metadata")
    if isinstance(metadata, dict) and metadata.get(field) is not None:
        return f"metadata.{field}", metadata[field]
    if record.get(field) is not None:
        return field, record[field]
    return None


def named_facts(
    builder: SuiteBuilder, loc: str, record: dict[str, Any], field: str, sep: str | None
) -> list[str] | None:
    """The facts in the field the user named, or None with the case dropped and why."""
    found = facts_from(record, field)
    facts = text_list(found[1], sep) if found else []
    if not found or not facts:
        builder.drop_case(loc, f"no facts: {field!r} is not in its metadata or fields, or empty")
        return None
    builder.map(found[0], "facts")
    return facts


def require_facts_field(field: str | None, records: list[tuple[str, Any]], tool: str) -> str:
    """Neither Inspect nor OpenAI evals has a facts field: the user must name one."""
    if field:
        return field
    keys: dict[str, None] = {}
    for _, record in records[:200]:
        if not isinstance(record, dict):
            continue
        metadata = record.get("metadata")
        if isinstance(metadata, dict):
            keys.update(dict.fromkeys(f"metadata.{k}" for k in metadata))
        keys.update(dict.fromkeys(k for k in record if k not in _SAMPLE_FIELDS))
    seen = f" (fields in this file: {', '.join(list(keys)[:12])})" if keys else ""
    fail(
        "facts_field",
        f"{tool} samples have no facts field: name the metadata field that holds each "
        f"sample's facts (facts_field; --facts-field in the CLI){seen}",
    )
