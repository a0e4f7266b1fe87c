"""The Dockerfile, read without Docker: one image that installs the built wheel."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"


def stages() -> list[list[tuple[str, str]]]:
    """Each build stage's instructions as (KEYWORD, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, arguments = line.partition(" ")
        if keyword.upper() == "FROM":
            found.append([])
        found[-1].append((keyword.upper(), " ".join(arguments.split())))
    return found


@pytest.fixture(scope="module")
def image() -> list[tuple[str, str]]:
    """The last stage: what ships."""
    return stages()[-1]


def test_the_image_installs_the_built_wheel_not_the_checkout(
    image: list[tuple[str, str]],
) -> None:
    build, *_ = stages()
    assert ("RUN", "pip wheel --no-deps --wheel-dir /wheels .") in build
    runs = [arguments for keyword, arguments in image if keyword == "RUN"]
    assert any(re.search(r"pip install \S+\.whl", run) for run in runs)
    copies = [arguments for keyword, arguments in image if keyword == "COPY"]
    assert copies == ["--from=build /wheels /tmp/wheels"]  # no sources, no sql/ beside them
    assert not any(re.search(r"pip install .*(-e|--editable)\b", run) for run in runs)


def test_the_image_user_takes_the_uid_that_owns_the_mounted_logs(
    image: list[tuple[str, str]],
) -> None:
    assert ("ARG", "APP_UID=1000") in image
    assert ("ARG", "APP_GID=1000") in image
    (create_user,) = [arguments for keyword, arguments in image if "useradd" in arguments]
    assert '--uid "$APP_UID" --gid "$APP_GID"' in create_user
    assert 'chown "$APP_UID:$APP_GID" . logs artifacts' in create_user
    users = [arguments for keyword, arguments in image if keyword == "USER"]
    assert users[-1] == "${APP_UID}:${APP_GID}"  # the processes run as that user, never root
