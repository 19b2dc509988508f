"""Reading Asterisk's configuration files as Asterisk does, enough to check what they name:
`[section]` headers with template marks (`[name](+)`, `[name](!)`, `[name](tpl)`), `key = value`
and `key => value` lines, `;` comments (`\\;` is a literal semicolon), `#include`/`#exec`, the
same section name repeated (pjsip.conf's `[provider]` as registration, auth, aor, endpoint...).
A dialplan's `exten =>` / `same =>` lines become (extension, priority, label, application,
arguments), arguments split the way Asterisk splits them (commas inside parentheses or
`${...}` stay put). `substitute()` expands `${...}` for a sample call, so a test can see the URL
a `CURL()` or a `Dial()` would produce."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.asterisk_peer import uri_encode

SECTION = re.compile(r"^\[(?P<name>[^\]]+)\](?:\((?P<marks>[^)]*)\))?$")
ENTRY = re.compile(r"^(?P<key>[A-Za-z_][\w-]*)\s*=>?\s*(?P<value>.*)$")
APPLICATION = re.compile(r"^(?P<app>\w+)(?:\((?P<args>.*)\))?$", re.DOTALL)
PRIORITY = re.compile(r"^(?P<priority>\d+|n)(?:\((?P<label>\w+)\))?$")


@dataclass
class Section:
    name: str
    marks: str = ""
    entries: list[tuple[str, str]] = field(default_factory=list)

    def get(self, key: str) -> str | None:
        return next((value for k, value in self.entries if k == key), None)

    def values(self, key: str) -> list[str]:
        return [value for k, value in self.entries if k == key]


@dataclass(frozen=True)
class Step:
    extension: str
    priority: str  # "1" or "n"
    label: str | None
    app: str
    args: list[str]


def strip_comment(line: str) -> str:
    out = []
    i = 0
    while i < len(line):
        if line[i] == "\\" and line[i + 1 : i + 2] == ";":
            out.append(";")
            i += 2
            continue
        if line[i] == ";":
            break
        out.append(line[i])
        i += 1
    return "".join(out).strip()


def parse(text: str) -> list[Section]:
    """Sections in file order; a line Asterisk would not read raises ValueError."""
    sections: list[Section] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = strip_comment(raw)
        if not line or line.startswith(("#include", "#tryinclude", "#exec")):
            continue
        if header := SECTION.match(line):
            sections.append(Section(header["name"], header["marks"] or ""))
            continue
        entry = ENTRY.match(line)
        if entry is None or not sections:
            raise ValueError(f"line {number} is not Asterisk configuration: {raw!r}")
        sections[-1].entries.append((entry["key"], entry["value"].strip()))
    return sections


def read(path: Path) -> list[Section]:
    return parse(path.read_text(encoding="utf-8"))


def sections_named(sections: list[Section], name: str) -> list[Section]:
    return [s for s in sections if s.name == name]


def of_type(sections: list[Section], name: str, kind: str) -> Section:
    """pjsip.conf / websocket_client.conf: the section `name` whose `type` is `kind`."""
    (found,) = [s for s in sections_named(sections, name) if s.get("type") == kind]
    return found


def split_arguments(text: str) -> list[str]:
    """Split at top-level commas, as ast_app_separate_args does (parentheses, brackets and
    quotes protect commas)."""
    args, depth, current, quoted = [], 0, [], False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "([{":
            depth += 1
        elif not quoted and char in ")]}":
            depth -= 1
        elif char == "," and depth == 0 and not quoted:
            args.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    args.append("".join(current).strip())
    return args


def dialplan(sections: list[Section]) -> dict[str, list[Step]]:
    """Each context's steps in file order (`same` continues the last `exten`)."""
    contexts: dict[str, list[Step]] = {}
    for section in sections:
        if section.name in ("general", "globals"):
            continue
        steps = contexts.setdefault(section.name, [])
        extension = None
        for key, value in section.entries:
            if key == "exten":
                extension, priority, command = (part.strip() for part in value.split(",", 2))
            elif key == "same" and extension is not None:
                priority, command = (part.strip() for part in value.split(",", 1))
            else:
                continue
            place = PRIORITY.match(priority)
            call = APPLICATION.match(command)
            if place is None or call is None:
                raise ValueError(f"[{section.name}] {key} => {value!r} is not a dialplan step")
            args = split_arguments(call["args"]) if call["args"] is not None else []
            steps.append(Step(extension, place["priority"], place["label"], call["app"], args))
    return contexts


def globals_of(sections: list[Section]) -> dict[str, str]:
    return {k: v for s in sections_named(sections, "globals") for k, v in s.entries}


def steps_of(contexts: dict[str, list[Step]], context: str, extension: str) -> list[Step]:
    return [step for step in contexts[context] if step.extension == extension]


# ---------------------------------------------------------------- ${...} substitution

INNERMOST = re.compile(r"\$\{([^${}]*)\}")
FUNCTION = re.compile(r"^(?P<name>[A-Z0-9_]+)\((?P<args>.*)\)$", re.DOTALL)


def _filter_set(allowed: str) -> set[str]:
    chars: set[str] = set()
    i = 0
    while i < len(allowed):
        if i + 2 < len(allowed) and allowed[i + 1] == "-":
            chars.update(chr(c) for c in range(ord(allowed[i]), ord(allowed[i + 2]) + 1))
            i += 3
        else:
            chars.add(allowed[i])
            i += 1
    return chars


def _evaluate(expression: str, variables: dict[str, str]) -> str:
    if call := FUNCTION.match(expression):
        name, args = call["name"], call["args"]
        if name == "URIENCODE":
            return uri_encode(args)
        if name == "FILTER":
            allowed, value = args.split(",", 1)
            keep = _filter_set(allowed)
            return "".join(c for c in value if c in keep)
        if name == "SHA1":
            return hashlib.sha1(args.encode()).hexdigest()
        return variables[expression]  # CALLERID(num), RAND(): given by the test
    name, *cut = expression.split(":")
    value = variables[name]
    if cut:
        start = int(cut[0])
        return value[start : start + int(cut[1])] if len(cut) > 1 else value[start:]
    return value


def substitute(text: str, variables: dict[str, str]) -> str:
    """`text` with its `${VAR}`, `${VAR:offset:length}` and `${URIENCODE()}`, `${FILTER()}`,
    `${SHA1()}` expanded innermost first, as Asterisk does; other names come from
    `variables` (a missing one raises KeyError: the dialplan uses something never set)."""
    while found := INNERMOST.search(text):
        value = _evaluate(found[1], variables)
        text = text[: found.start()] + value + text[found.end() :]
    return text
