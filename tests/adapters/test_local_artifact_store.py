"""LocalArtifactStore: files under its root, written whole, never read from outside it."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from app.adapters.artifacts.local import LocalArtifactStore, safe_name

TASK = uuid.UUID("0193a0f0-0000-7000-8000-000000000001")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


@pytest.fixture
def store(root: Path) -> LocalArtifactStore:
    return LocalArtifactStore(root)


async def test_stored_bytes_come_back_from_their_uri(store: LocalArtifactStore) -> None:
    data = bytes(range(256)) * 100

    uri = await store.put(TASK, "summary.txt", data)

    assert uri.startswith(f"artifact://local/{TASK}/")
    assert uri.endswith("-summary.txt")
    assert store.owns(uri)
    assert await store.get(uri, task_id=TASK) == data


async def test_files_live_under_the_tasks_folder_with_nothing_left_over(
    store: LocalArtifactStore, root: Path
) -> None:
    uri = await store.put(TASK, "a.json", b"{}")

    [file] = (root / str(TASK)).iterdir()  # no temporary file left behind
    assert uri.endswith("/" + file.name)
    assert file.read_bytes() == b"{}"


async def test_the_same_name_twice_gives_two_files(store: LocalArtifactStore) -> None:
    first = await store.put(TASK, "out.txt", b"one")
    second = await store.put(TASK, "out.txt", b"two")

    assert first != second
    assert (await store.get(first, task_id=TASK), await store.get(second, task_id=TASK)) == (
        b"one",
        b"two",
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("/etc/shadow", "shadow"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("..", "artifact"),
        ("", "artifact"),
        ("rapport final (v2).pdf", "rapport_final_v2_.pdf"),
        (".hidden", "hidden"),
    ],
)
def test_names_are_cut_down_to_a_harmless_file_name(name: str, expected: str) -> None:
    assert safe_name(name) == expected


async def test_a_hostile_name_stays_inside_the_root(store: LocalArtifactStore, root: Path) -> None:
    uri = await store.put(TASK, "../../../escape.txt", b"x")

    assert [p.name for p in root.rglob("*") if p.is_file()] == [uri.rsplit("/", 1)[1]]
    assert await store.get(uri, task_id=TASK) == b"x"


async def test_a_missing_file_is_none(store: LocalArtifactStore) -> None:
    uri = await store.put(TASK, "gone.txt", b"x")
    for file in (store.root / str(TASK)).iterdir():
        file.unlink()

    assert await store.get(uri, task_id=TASK) is None
    assert (
        await store.get(f"artifact://local/{uuid.uuid4()}/0123456789abcdef-x.txt", task_id=TASK)
        is None
    )


@pytest.mark.parametrize(
    "uri",
    [
        f"artifact://local/{TASK}/../../secret.txt",
        f"artifact://local/{TASK}/..",
        "artifact://local/../secret.txt",
        "artifact://local//etc/passwd",
        "artifact://local/etc/passwd",
        f"artifact://local/{TASK}/0123456789abcdef-a.txt/../../secret.txt",
        f"artifact://local/{TASK}/%2e%2e%2fsecret.txt",
        "file:///etc/passwd",
        "https://example.com/a.txt",
    ],
)
async def test_uris_that_point_outside_the_root_are_refused(
    store: LocalArtifactStore, tmp_path: Path, uri: str
) -> None:
    (tmp_path / "secret.txt").write_text("secret")
    await store.put(TASK, "a.txt", b"a")

    assert await store.get(uri, task_id=TASK) is None


async def test_a_symlink_out_of_the_root_is_not_followed(
    store: LocalArtifactStore, root: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    folder = root / str(TASK)
    folder.mkdir(parents=True)
    link = folder / "0123456789abcdef-link.txt"
    os.symlink(secret, link)

    assert await store.get(f"artifact://local/{TASK}/{link.name}", task_id=TASK) is None


async def test_a_symlinked_task_folder_out_of_the_root_is_not_followed(
    store: LocalArtifactStore, root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "0123456789abcdef-a.txt").write_text("secret")
    root.mkdir(parents=True)
    os.symlink(outside, root / str(TASK), target_is_directory=True)

    assert await store.get(f"artifact://local/{TASK}/0123456789abcdef-a.txt", task_id=TASK) is None


async def test_another_stores_uri_is_not_owned(store: LocalArtifactStore) -> None:
    assert not store.owns("s3://bucket/key")
    assert not store.owns("https://example.com/a.txt")


OTHER = uuid.UUID("0193a0f0-0000-7000-8000-000000000002")


async def test_deleting_a_task_removes_its_folder_and_nothing_else(
    store: LocalArtifactStore, root: Path
) -> None:
    first = await store.put(TASK, "a.txt", b"a")
    await store.put(TASK, "b.txt", b"b")
    (root / str(TASK) / ".tmp-left-by-a-crash").write_bytes(b"")
    kept = await store.put(OTHER, "c.txt", b"c")

    assert await store.delete_tasks([TASK]) == 1

    assert not (root / str(TASK)).exists()
    assert await store.get(first, task_id=TASK) is None
    assert await store.get(kept, task_id=OTHER) == b"c"


async def test_deleting_tasks_with_nothing_stored_is_a_no_op(
    store: LocalArtifactStore, root: Path
) -> None:
    assert await store.delete_tasks([TASK]) == 0  # not even the root exists yet
    await store.put(OTHER, "c.txt", b"c")

    assert await store.delete_tasks([TASK, uuid.uuid4()]) == 0
    assert await store.delete_tasks([]) == 0
    assert [p.name for p in root.iterdir()] == [str(OTHER)]


async def test_a_symlinked_task_folder_out_of_the_root_is_not_deleted_through(
    store: LocalArtifactStore, root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "0123456789abcdef-a.txt").write_text("keep me")
    root.mkdir(parents=True)
    os.symlink(outside, root / str(TASK), target_is_directory=True)

    assert await store.delete_tasks([TASK]) == 0

    assert (outside / "0123456789abcdef-a.txt").read_text() == "keep me"


async def test_a_symlinked_task_folder_into_another_tasks_folder_is_not_deleted_through(
    store: LocalArtifactStore, root: Path
) -> None:
    kept = await store.put(OTHER, "c.txt", b"c")
    os.symlink(root / str(OTHER), root / str(TASK), target_is_directory=True)

    assert await store.delete_tasks([TASK]) == 0

    assert await store.get(kept, task_id=OTHER) == b"c"


async def test_a_symlink_inside_a_task_folder_goes_but_its_target_stays(
    store: LocalArtifactStore, root: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    await store.put(TASK, "a.txt", b"a")
    os.symlink(secret, root / str(TASK) / "0123456789abcdef-link.txt")
    os.symlink(tmp_path, root / str(TASK) / "0123456789abcdef-dir")

    assert await store.delete_tasks([TASK]) == 1

    assert not (root / str(TASK)).exists()
    assert secret.read_text() == "secret"


async def test_a_file_where_a_task_folder_would_be_is_left_alone(
    store: LocalArtifactStore, root: Path
) -> None:
    root.mkdir(parents=True)
    (root / str(TASK)).write_text("not a folder of ours")

    assert await store.delete_tasks([TASK]) == 0

    assert (root / str(TASK)).read_text() == "not a folder of ours"


async def test_a_file_is_served_only_for_the_task_it_was_stored_for(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    uri = await store.put(OTHER, "secret.txt", b"other tenant's")

    assert await store.get(uri, task_id=TASK) is None
    assert await store.get(uri, task_id=OTHER) == b"other tenant's"
