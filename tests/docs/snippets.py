"""The fenced code blocks of README.md and docs/, with what each one claims to be.

A block says how it is checked in an HTML comment on the line before its fence (invisible
when rendered)::

    <!-- snippet: app embed -->           a complete FastAPI program defining `app`: run and served
    <!-- snippet: app extends=embed -->   more routes for the program named `embed`, run with it
    <!-- snippet: script -->              a complete program: run to the end
    <!-- snippet: build: REASON -->       a complete program that needs what tests do not have
                                          (a public issuer, a provider): run, not served
    <!-- snippet: fragment: REASON -->    lines shown inside a larger program: compiled only
    <!-- snippet: shell -->               shell commands: run by bash -euo pipefail

Every ``python`` block must carry one (a new block cannot slip in unchecked); ``sh``/``bash``
blocks are run only when marked ``shell`` (most are deployment examples for other hosts)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
KINDS = frozenset({"app", "script", "build", "fragment", "shell"})
MARKER = re.compile(r"^\s*<!--\s*snippet:\s*(?P<kind>\w+)(?P<rest>.*?)\s*-->\s*$")
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w-]*)\s*$")


@dataclass(frozen=True)
class Snippet:
    document: Path
    line: int  # of the first code line, 1-based
    lang: str
    code: str
    kind: str | None  # None: no marker
    name: str | None
    extends: str | None
    reason: str

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"


def _marker(text: str) -> tuple[str, str | None, str | None, str] | None:
    found = MARKER.match(text)
    if found is None:
        return None
    kind, rest = found["kind"], found["rest"].strip()
    if rest.startswith(":"):
        return kind, None, None, rest[1:].strip()
    if rest.startswith("extends="):
        return kind, None, rest.removeprefix("extends="), ""
    return kind, rest or None, None, ""


def snippets_of(document: Path) -> list[Snippet]:
    lines = document.read_text().splitlines()
    found: list[Snippet] = []
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if fence is None or not fence["lang"]:
            if fence is not None:  # an unlabelled block: skip to its end
                index += 1
                while index < len(lines) and not FENCE.match(lines[index]):
                    index += 1
            index += 1
            continue
        indent = len(fence["indent"])
        previous = next((lines[j] for j in range(index - 1, -1, -1) if lines[j].strip()), "")
        marker = _marker(previous)
        body: list[str] = []
        index += 1
        start = index + 1
        while index < len(lines) and not FENCE.match(lines[index]):
            body.append(lines[index][indent:])
            index += 1
        kind, name, extends, reason = marker or (None, None, None, "")
        found.append(
            Snippet(
                document, start, fence["lang"], "\n".join(body) + "\n", kind, name, extends, reason
            )
        )
        index += 1
    return found


def all_snippets() -> list[Snippet]:
    return [snippet for document in DOCUMENTS for snippet in snippets_of(document)]
