"""Named SQL queries loaded from `sql/queries/*.sql`.

A file holds blocks introduced by a header line and a one-line description:

    -- name: task_lease_available
    -- Claim due tasks for a worker, as many as it has free slots.
    WITH candidate AS (...) UPDATE ...;

Queries are read once; a missing name is a programming error and fails loudly.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import LiteralString

_HEADER = re.compile(r"^--\s*name:\s*([a-z][a-z0-9_]*)\s*$", re.MULTILINE)


_APP_PACKAGE = Path(__file__).resolve().parents[2]


def sql_dir() -> Path:
    """The SQL folder: `SQL_DIR` if set; else `app/_sql`, where a wheel ships the
    top-level `sql/`; else that `sql/` beside the `app` package (a checkout, or an
    editable install of one)."""
    override = os.environ.get("SQL_DIR")
    if override:
        return Path(override)
    packaged = _APP_PACKAGE / "_sql"
    if packaged.is_dir():
        return packaged
    return _APP_PACKAGE.parent / "sql"


@dataclass(frozen=True, slots=True)
class NamedQuery:
    """One query from a `.sql` file."""

    name: str
    description: str
    text: LiteralString
    source: str


def parse_queries(text: str, source: str) -> dict[str, NamedQuery]:
    """Split one file's text into its named queries."""
    found: dict[str, NamedQuery] = {}
    headers = list(_HEADER.finditer(text))
    for index, header in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
        body_lines = text[header.end() : end].strip().splitlines()
        description = ""
        if body_lines and body_lines[0].startswith("--"):
            description = body_lines.pop(0).lstrip("-").strip()
        body = "\n".join(body_lines).strip()
        name = header.group(1)
        if not body:
            raise ValueError(f"{source}: query {name!r} has no SQL")
        if name in found:
            raise ValueError(f"{source}: query {name!r} is defined twice")
        # The text comes from our own files, never from input: it is as trusted as a literal.
        found[name] = NamedQuery(name, description, body, source)
    return found


@cache
def load_queries(directory: Path | None = None) -> Mapping[str, NamedQuery]:
    """Every named query under `sql/queries`, by name; a name used twice is an error."""
    folder = (directory or sql_dir()) / "queries"
    queries: dict[str, NamedQuery] = {}
    for path in sorted(folder.glob("*.sql")):
        for name, query in parse_queries(path.read_text(encoding="utf-8"), path.name).items():
            if name in queries:
                raise ValueError(
                    f"query {name!r} is in both {queries[name].source} and {path.name}"
                )
            queries[name] = query
    return queries


def query(name: str) -> LiteralString:
    """The SQL text of the named query."""
    return load_queries()[name].text
