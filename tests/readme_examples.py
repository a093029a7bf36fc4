"""README.md's fenced examples, read as the test suite runs them (tests/integration/
test_readme.py): each block with its line, language, text and the `readme-test` comments
written above it.

Markers (HTML comments on the lines above a block, invisible on GitHub):

- `<!-- readme-test: skip: REASON -->`: the block cannot run here (a GPU, vLLM, the Hub, a
  hosted API, a file of your own); the harness reports REASON.
- `<!-- readme-test: skip "TEXT": REASON -->`: only the commands containing TEXT.
- `<!-- readme-test: output-of: COMMAND -->`: an output block without its `$ command` line;
  COMMAND is run (or its output from an earlier block reused) and the output compared.
- `<!-- readme-test: skip-if-gpu: REASON -->`: the output is this CPU machine's.
- `<!-- readme-test: numbers vary -->`: compare an output block's shape (every number may
  differ), not its figures.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
MARKER = re.compile(r"^\s*<!-- readme-test: (.*?) -->\s*$")
SKIP_LINES = re.compile(r'^skip "([^"]+)": (.+)$')


@dataclass
class Example:
    line: int
    lang: str
    text: str
    markers: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"L{self.line}-{self.lang or 'output'}"

    def marker(self, name: str) -> str | None:
        for marker in self.markers:
            if marker.startswith(f"{name}:"):
                return marker.split(":", 1)[1].strip()
            if marker == name:
                return ""
        return None

    def skipped_lines(self) -> dict[str, str]:
        """{text a command contains: why it is skipped}."""
        found = {}
        for marker in self.markers:
            matched = SKIP_LINES.match(marker)
            if matched:
                found[matched.group(1)] = matched.group(2)
        return found

    def commands(self) -> list[str]:
        """Shell commands: continuation lines joined, comments and prompts left out."""
        joined = re.sub(r"\\\n\s*", " ", self.text)
        lines = [line.strip().removeprefix("$ ") for line in joined.splitlines()]
        return [line for line in lines if line and not line.startswith("#")]

    def expected_output(self) -> tuple[str | None, list[str]]:
        """(the `$` command, or None; the output lines shown) of an output block."""
        joined = re.sub(r"\\\n\s*", " ", self.text)
        lines = joined.splitlines()
        if lines and lines[0].startswith("$ "):
            return lines[0][2:].strip(), lines[1:]
        return None, lines


def examples(path: Path = README) -> list[Example]:
    found, markers = [], []
    lines = path.read_text().splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        marker, fence = MARKER.match(line), FENCE.match(line)
        if marker:
            markers.append(marker.group(1))
        elif fence:
            indent, body = len(fence.group(1)), []
            index += 1
            while not FENCE.match(lines[index]):
                body.append(lines[index][indent:])
                index += 1
            found.append(Example(index - len(body), fence.group(2), "\n".join(body), markers))
            markers = []
        elif line.strip():
            markers = []
        index += 1
    return found


def split_command(command: str) -> tuple[list[str], str | None]:
    """argv without the shell comment, and the file of a `> FILE` redirect."""
    argv = shlex.split(command, comments=True)
    if ">" in argv:
        at = argv.index(">")
        return argv[:at], argv[at + 1]
    return argv, None


NUMBER = re.compile(r"\b[0-9a-f]{8}\b|\d[\d,]*(?:\.\d+)?")
"""A number, or an 8-hex-digit id (an A/B's), which differ from run to run."""


def shape(line: str) -> re.Pattern[str]:
    """A line's pattern with every number free and runs of spaces flexible."""
    parts = [re.escape(part) for part in NUMBER.split(line.strip())]
    pattern = r"(?:[0-9a-f]{8}|[\d,]+(?:\.\d+)?|-)".join(parts)
    return re.compile(re.sub(r"(\\ )+", r"\\s+", pattern))


def missing_lines(expected: list[str], actual: str, numbers_vary: bool) -> list[str]:
    """Shown lines the real output lacks (`...` lines and `(...)` tails are elisions)."""
    have = [" ".join(line.split()) for line in actual.splitlines()]
    missing = []
    for line in expected:
        wanted = line.split("(...)")[0].strip()
        if not wanted or wanted.startswith("..."):
            continue
        wanted = " ".join(wanted.removesuffix("...").split())
        if numbers_vary:
            pattern = shape(wanted)
            ok = any(pattern.search(got) for got in have)
        else:
            ok = any(wanted in got for got in have)
        if not ok:
            missing.append(line)
    return missing
