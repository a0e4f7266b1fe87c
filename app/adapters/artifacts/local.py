"""LocalArtifactStore: artifacts as files in a folder, addressed by `artifact://local/` URIs.

A file lives at `<root>/<task_id>/<random prefix>-<sanitised name>`: the prefix keeps
two outputs with one name apart and makes paths unguessable; the name is cut down
to safe characters so it can never climb out of its folder. Files are written to a
temporary file and renamed into place, so a reader never sees half a file. A pruned
task's folder is deleted whole. All file I/O runs in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

SCHEME = "artifact://local/"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_STORED_NAME = re.compile(r"^[0-9a-f]{16}-[A-Za-z0-9._-]{1,100}$")
MAX_NAME = 100


def safe_name(name: str) -> str:
    """`name` reduced to a harmless file name: its last path part, safe characters only."""
    last = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", last).lstrip(".")[:MAX_NAME]
    return cleaned or "artifact"


class LocalArtifactStore:
    """ArtifactStore over a local folder (ARTIFACT_DIR)."""

    def __init__(self, root: Path) -> None:
        # Resolved once: every path handed out or read is checked against this.
        self._root = root.resolve()

    @property
    def root(self) -> Path:
        return self._root

    def owns(self, uri: str) -> bool:
        return uri.startswith(SCHEME)

    async def put(self, task_id: uuid.UUID, name: str, data: bytes) -> str:
        file_name = f"{secrets.token_hex(8)}-{safe_name(name)}"
        await asyncio.to_thread(self._write, self._root / str(task_id), file_name, data)
        return f"{SCHEME}{task_id}/{file_name}"

    async def get(self, uri: str, *, task_id: uuid.UUID) -> bytes | None:
        path = self._path(uri)
        if path is None or path.parent.name != str(task_id):
            return None
        return await asyncio.to_thread(self._read, path)

    async def delete_tasks(self, task_ids: Sequence[uuid.UUID]) -> int:
        folders = [self._root / str(task_id) for task_id in task_ids]
        return await asyncio.to_thread(self._delete_folders, folders)

    def _path(self, uri: str) -> Path | None:
        """The file a URI names, or None when it is not one this store could have written."""
        if not self.owns(uri):
            return None
        parts = uri.removeprefix(SCHEME).split("/")
        if len(parts) != 2:
            return None
        folder, file_name = parts
        try:
            if str(uuid.UUID(folder)) != folder:
                return None
        except ValueError:
            return None
        if not _STORED_NAME.match(file_name):
            return None
        return self._root / folder / file_name

    def _read(self, path: Path) -> bytes | None:
        try:
            # Symlinks anywhere on the way are followed here, then the target is checked.
            resolved = path.resolve(strict=True)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not resolved.is_relative_to(self._root) or not resolved.is_file():
            return None
        try:
            # No symlink may have been swapped in since: O_NOFOLLOW refuses one (ELOOP).
            fd = os.open(resolved, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError as error:
            if error.errno in (errno.ENOENT, errno.ELOOP, errno.EISDIR):
                return None
            raise
        with os.fdopen(fd, "rb") as file:
            return file.read()

    def _delete_folders(self, folders: list[Path]) -> int:
        """Delete each folder; one that fails does not keep the others, and is raised after."""
        deleted = 0
        failures: list[OSError] = []
        for folder in folders:
            try:
                if self._delete_folder(folder):
                    deleted += 1
            except OSError as error:
                failures.append(error)
        if failures:
            failures[0].add_note(f"{len(failures)} of {len(folders)} task folders not deleted")
            raise failures[0]
        return deleted

    def _delete_folder(self, folder: Path) -> bool:
        """Delete a task's folder if it is one: a real folder directly under the root."""
        try:
            # As in _read: symlinks on the way are followed here, then the target is checked.
            resolved = folder.resolve(strict=True)
        except (FileNotFoundError, NotADirectoryError):
            return False
        # `folder` is <root>/<uuid> with the root resolved, so this refuses a target out of
        # the root and also a symlink into it (it would name another task's files).
        if resolved != folder or not resolved.is_dir():
            return False
        try:
            # rmtree refuses a symlink swapped in since, and never follows one inside.
            shutil.rmtree(folder)
        except FileNotFoundError:
            return False
        return True

    @staticmethod
    def _write(folder: Path, file_name: str, data: bytes) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, folder / file_name)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
