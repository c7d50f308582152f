"""The values table of charts/README.md, generated from the `# --` comments of values.yaml.

helm-docs does this for most charts; it is a Go binary from GitHub, so this small
equivalent keeps the table true without it. A chart test fails when the README is stale.

    python -m pinpipe.devtools.chart_docs     # rewrite the table in charts/README.md
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pinpipe.devtools.helm import CHART

README = CHART.parent / "README.md"
START, END = "<!-- values-table:start -->", "<!-- values-table:end -->"
_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.\-/]+):(?:\s|$)")


@dataclass(frozen=True)
class ValueDoc:
    path: tuple[str, ...]
    description: str
    line: int

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


def parse_values(text: str) -> list[ValueDoc]:
    """Every mapping key of a block-style values file, with its `# --` comment ("" if none).

    A comment documents the key right below it (no blank line between, as helm-docs reads it);
    continuation lines of the comment start with `#` and two or more spaces.
    """
    docs: list[ValueDoc] = []
    stack: list[tuple[int, str]] = []
    comment: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#"):
            comment.append(stripped)
            continue
        match = _KEY.match(raw)
        if not match:
            comment = []
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match["key"]))
        docs.append(ValueDoc(tuple(key for _, key in stack), _description(comment), number))
        comment = []
    return docs


def _description(comment: list[str]) -> str:
    for index, line in enumerate(comment):
        if line.startswith("# --"):
            rest = [c[1:].strip() for c in comment[index + 1 :] if c.startswith("#  ")]
            return " ".join([line.removeprefix("# --").strip(), *rest]).strip()
    return ""


def _lookup(values: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = values
    for key in path:
        node = node[key]
    return node


def render_table(values_text: str) -> str:
    """A markdown table of every documented key whose value is not itself a documented map."""
    docs = [d for d in parse_values(values_text) if d.description]
    documented = {d.path for d in docs}
    values = yaml.safe_load(values_text)
    rows = ["| key | default | description |", "|---|---|---|"]
    for doc in docs:
        if any(other[: len(doc.path)] == doc.path and other != doc.path for other in documented):
            continue
        default = json.dumps(_lookup(values, doc.path), separators=(",", ":"))
        description = doc.description.replace("|", r"\|")
        rows.append(f"| `{doc.dotted}` | `{default}` | {description} |")
    return "\n".join(rows)


def updated_readme(readme: str, values_text: str) -> str:
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    if not rest:
        raise ValueError(f"{README} lacks the {START} ... {END} markers")
    return f"{head}{START}\n{render_table(values_text)}\n{END}{tail}"


def main() -> None:
    values_text = (CHART / "values.yaml").read_text()
    README.write_text(updated_readme(README.read_text(), values_text))
    print(f"updated the values table in {README}")


if __name__ == "__main__":
    main()
