"""The Makefile: what its targets install, and what `make help` promises."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = (ROOT / "Makefile").read_text()
README = (ROOT / "README.md").read_text()


def help_text(target: str) -> str:
    """The `## …` description `make help` prints for a target."""
    match = re.search(rf"^{re.escape(target)}:.*## (.+)$", MAKEFILE, re.MULTILINE)
    assert match, target
    return match.group(1)


def minutes(text: str) -> tuple[str, ...]:
    """The first duration in minutes a text gives: ("40",) or a range ("3", "5")."""
    match = re.search(r"(\d+)(?: to (\d+))? min", text)
    assert match, text
    return tuple(group for group in match.groups() if group)


def test_make_run_and_setup_install_the_embedded_postgres() -> None:
    stamp_recipe = MAKEFILE.split("$(STAMP): pyproject.toml", 1)[1].split("\n\n", 1)[0]
    assert '-e ".[dev,embedded]"' in stamp_recipe
    for target in ("setup", "run", "test"):
        assert re.search(rf"^{target}: \$\(STAMP\)", MAKEFILE, re.MULTILINE), target


def test_make_help_and_the_readme_give_the_same_bench_times() -> None:
    performance = README.split("## Performance", 1)[1]
    full = performance.split("`make bench` runs the whole suite", 1)[1]
    quick = performance.split("`make bench-quick`", 1)[1]
    assert minutes(help_text("bench")) == minutes(full) == ("40",)
    assert minutes(help_text("bench-quick")) == minutes(quick) == ("3", "5")
