"""promptfoo configs (`promptfooconfig.yaml`) and tests files (CSV, JSON, JSONL, YAML).

A test's `vars` → input, rendered through the config's prompt when it is a simple template
(see promptfoo_prompts); `vars.context` (or the var named with `facts_var`) → facts; its
assertions, with `defaultTest`'s, → graders (see promptfoo_asserts): several must all pass, as
in promptfoo. A list-valued var expands into one case per value, as promptfoo expands it.
`tests: file://...` is followed only where the caller read the file (the CLI does; the API,
which receives one file, says how to send it instead).
"""

from __future__ import annotations

import itertools
from typing import Any

from app.importers.common import (
    Attachments,
    ImportResult,
    SuiteBuilder,
    as_text,
    at,
    fail,
    in_file,
    text_list,
)
from app.importers.models import ImportOptions
from app.importers.promptfoo_asserts import to_grader
from app.importers.promptfoo_prompts import (
    Prompt,
    from_config,
    input_from_vars,
    is_simple,
    render_value,
    uses_var,
)
from app.importers.promptfoo_tests import Files, RawTest, config_tests, file_tests
from app.importers.records import parse_yaml

FACTS_VAR = "context"
MAX_EXPANSION = 1000
_TEST_FIELDS = ("description", "vars", "assert", "options", "metadata")
_NOT_KEPT = {
    "provider": "per-test providers: rung asks the model a run names",
    "providers": "per-test provider filters: rung asks the model a run names",
    "prompts": "per-test prompt filters: the tests are rendered through one prompt",
    "providerOutput": "a recorded output: rung asks the model itself",
    "assertScoringFunction": "a custom scoring function runs your code",
}


def parse(text: str, options: ImportOptions, name: str, attachments: Attachments) -> ImportResult:
    builder = SuiteBuilder("promptfoo")
    files = Files(attachments, builder)
    config: dict[str, Any] = {}
    if options.tests_format:
        tests = file_tests(text, options.tests_format, "", builder)
    else:
        data = parse_yaml(text)
        if isinstance(data, list):
            tests = [RawTest(f"tests[{i}]", t) for i, t in enumerate(data)]
        elif isinstance(data, dict):
            config = data
            tests = config_tests(config, files, builder)
        else:
            fail("", "not a promptfoo config (prompts and tests) nor a list of tests")
    if options.prompt is not None:
        if not is_simple(options.prompt):
            fail("prompt", "must be a simple template: text with {{var}} placeholders")
        prompt = Prompt("prompt", options.prompt)
    else:
        prompt = from_config(config, lambda ref, loc: files.text(ref, loc, "prompt"), builder)
    default = config.get("defaultTest") or {}
    if isinstance(default, str) and default.startswith("file://"):
        loaded = files.text(default, "defaultTest")
        path = default.removeprefix("file://")
        default = in_file(path, lambda: parse_yaml(loaded)) if loaded is not None else {}
    if not isinstance(default, dict):
        fail("defaultTest", "must be a test (vars, assert, options) or a file:// reference")
    for test in tests:
        builder.report.read += 1
        if not isinstance(test.data, dict):
            fail(test.loc, "a test must be an object with vars and assert")
        _test(builder, files, test, default, prompt, options)
    description = as_text(config.get("description")) or ""
    return builder.build(options.name or description or name, description)


def _test(
    builder: SuiteBuilder,
    files: Files,
    test: RawTest,
    default: dict[str, Any],
    prompt: Prompt,
    options: ImportOptions,
) -> None:
    data, loc = test.data, test.loc
    for key in ("vars", "options", "metadata"):
        if not isinstance(data.get(key) or {}, dict):
            fail(at(loc, key), "must be a mapping")
    if not isinstance(data.get("assert") or [], list):
        fail(at(loc, "assert"), "must be a list of assertions")
    for key in data:
        if key == "threshold":
            builder.tally(
                loc,
                "a test threshold (a minimum weighted score) is not kept: a case "
                "passes when every imported assertion passes",
            )
        elif key not in _TEST_FIELDS:
            builder.ignore(f"tests[].{key}", _NOT_KEPT.get(key, "not a promptfoo test field"))
    settings = {**(default.get("options") or {}), **(data.get("options") or {})}
    if settings.get("transform"):
        builder.tally(
            loc,
            "options.transform rewrote the output before grading; rung grades the answer as it is",
        )
    vars = {**(default.get("vars") or {}), **(data.get("vars") or {})}
    for key, value in list(vars.items()):
        if isinstance(value, str) and value.startswith("file://"):
            vars[key] = files.text(value, at(at(loc, "vars"), key), case=True)
            if vars[key] is None:
                return
    asserts = [(f"defaultTest.assert[{i}]", a) for i, a in enumerate(default.get("assert") or [])]
    if settings.get("disableDefaultAsserts"):
        asserts = []
    own = data.get("assert") or []
    locs = test.assert_locs or [at(at(loc, "assert"), i) for i in range(len(own))]
    asserts += list(zip(locs, own, strict=True))
    facts_var = options.facts_var or FACTS_VAR
    lists = [k for k, v in vars.items() if isinstance(v, list) and k != facts_var]
    combos = list(itertools.islice(itertools.product(*(vars[k] for k in lists)), MAX_EXPANSION + 1))
    if len(combos) > MAX_EXPANSION:
        builder.drop_case(loc, f"its list vars expand to more than {MAX_EXPANSION} tests")
        return
    if lists:
        builder.tally(
            loc,
            f"list vars ({', '.join(lists)}) expand into one case per value, "
            "as promptfoo expands them",
        )
    for number, combo in enumerate(combos, start=1):
        expanded = {**vars, **dict(zip(lists, combo, strict=True))}
        suffix = f"-{number}" if lists else ""
        _case(
            builder,
            files,
            loc,
            data,
            expanded,
            asserts,
            prompt,
            options,
            settings,
            suffix,
            report=number == 1,
        )


def _case(
    builder: SuiteBuilder,
    files: Files,
    loc: str,
    data: dict[str, Any],
    vars: dict[str, Any],
    asserts: list[tuple[str, Any]],
    prompt: Prompt,
    options: ImportOptions,
    settings: dict[str, Any],
    suffix: str,
    report: bool,
) -> None:
    facts_var = options.facts_var or FACTS_VAR
    facts = text_list(vars.get(facts_var), options.facts_sep)
    if not facts:
        builder.drop_case(
            loc,
            f"no facts: rung needs each test's relevant facts in vars."
            f"{facts_var} (name another var with facts_var)",
        )
        return
    text, system, missing = prompt.render(vars, facts_var)
    if text is None:
        text, source = input_from_vars(vars, facts_var)
    else:
        source = f"vars, rendered through {prompt.loc}"
        if missing:
            builder.tally(
                loc,
                f"{prompt.loc} names vars a test does not set "
                f"({', '.join(sorted(set(missing)))}): they render empty, as in promptfoo",
            )
        if uses_var(prompt.user, facts_var) or uses_var(prompt.system, facts_var):
            builder.warn(
                prompt.loc,
                f"the prompt puts {{{{{facts_var}}}}} into the input: rung "
                "injects the facts itself, in the with-facts arm only, so the lines "
                "holding it are left out",
            )
    text = f"{settings.get('prefix') or ''}{text}{settings.get('suffix') or ''}"
    graders: list[dict[str, Any]] = []
    for where, assertion in asserts:
        grader, what = to_grader(
            assertion, where, lambda value: render_value(value, vars), files.text
        )
        if grader is None:
            if report:
                builder.drop(where, what)
            continue
        graders.append(grader)
        builder.map(f"assert {assertion['type']}", f"expected ({grader['type']})")
    if not graders:
        none = " (its assertions are all dropped)" if asserts else " (the test has none)"
        builder.drop_case(loc, f"no assertion rung can grade{none}")
        return
    description = as_text(data.get("description"))
    metadata = data.get("metadata") or {}
    tags = [
        f"{key}:{as_text(item)}"
        for key, value in metadata.items()
        for item in (value if isinstance(value, list) else [value])
        if isinstance(item, str | int | float)
    ]
    builder.map(source, "input")
    builder.map(f"vars.{facts_var}", "facts")
    if description:
        builder.map("description", "id")
    builder.add(
        loc,
        case_id=(description or f"test-{builder.report.read}") + suffix,
        input=text,
        facts=facts,
        expected=graders[0] if len(graders) == 1 else {"type": "all", "checks": graders},
        tags=tags,
        system=system,
    )
