"""Where a workspace keeps its bulk data (shards, index, clips): a local or NFS folder, or any
fsspec URL (``s3://bucket/prefix``, ``gs://...``, ``abfs://...``).

The catalogue (``catalog.duckdb``) always stays in the workspace folder: DuckDB needs a file
it can lock. Object stores are reached with their usual settings (for S3: the
``AWS_*`` environment variables, ``AWS_ENDPOINT_URL`` for an S3-compatible server).

Writes are whole or not at all: an object store's PUT is atomic, and on a file system a
temporary file is renamed into place (and removed when the write fails).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from functools import cached_property

import fsspec

from mousegpt.errors import WorkspaceError


def normalise(url: str) -> str:
    """A URL as given, or a folder made absolute (``--storage`` may be relative to where it is typed)."""
    return url if "://" in url else os.path.abspath(os.path.expanduser(url))


@dataclass(frozen=True)
class Storage:
    """A workspace's bulk-data store, a folder or an fsspec URL, whose writes are whole or not
    at all.
    """

    url: str
    """A folder or an fsspec URL; names below are relative to it, with ``/`` separators."""

    @cached_property
    def _fs_base(self):
        try:
            # A new instance: fsspec's cache would keep one made with earlier credentials.
            return fsspec.core.url_to_fs(self.url, skip_instance_cache=True)
        except (ImportError, ValueError) as exc:
            raise WorkspaceError(f"storage {self.url}: cannot open it ({exc})") from None

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        """The fsspec file system of ``url`` (made once, on first use)."""
        return self._fs_base[0]

    @property
    def is_local(self) -> bool:
        """Whether the store is a local (or NFS) folder rather than an object store."""
        return "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))

    def path(self, name: str) -> str:
        """``name``'s path in the file system (an absolute path when local)."""
        return f"{self._fs_base[1].rstrip('/')}/{name}"

    def uri(self, name: str) -> str:
        """``name`` as a URL a person can read in a message (the folder's path when local)."""
        return self.path(name) if self.is_local else self.fs.unstrip_protocol(self.path(name))

    @cached_property
    def arrow(self):
        """The same file system for pyarrow (Parquet)."""
        from pyarrow.fs import FSSpecHandler, PyFileSystem  # pyarrow: only when Parquet is read or written

        return PyFileSystem(FSSpecHandler(self.fs))

    def exists(self, name: str) -> bool:
        """Whether ``name`` exists, asked anew (fsspec's listing cache is dropped first)."""
        self.fs.invalidate_cache()  # another process (a worker, another node) may have written it
        return self.fs.exists(self.path(name))

    def read_bytes(self, name: str) -> bytes:
        """The whole content of ``name``; FileNotFoundError when there is none."""
        return self.fs.cat_file(self.path(name))

    def remove(self, name: str) -> None:
        """Remove ``name``; one already gone is no error."""
        try:
            self.fs.rm_file(self.path(name))
        except FileNotFoundError:
            pass

    def write_bytes(self, name: str, data: bytes) -> str:
        """Write ``name`` whole; returns its path."""
        return self._whole(name, lambda target: self.fs.pipe_file(target, data))

    def put_file(self, local: str, name: str) -> str:
        """Copy a local file to ``name`` whole; returns its path."""
        return self._whole(name, lambda target: self.fs.put_file(local, target))

    def write_with(self, name: str, write) -> str:
        """``write(path)`` writes ``name`` in this file system (given a temporary path when
        local, renamed into place once written); returns its path.
        """
        return self._whole(name, write)

    def _whole(self, name: str, write) -> str:
        target = self.path(name)
        if not self.is_local:
            write(target)  # one PUT: the object appears whole, or not at all
            return target
        folder, _, base = target.rpartition("/")
        os.makedirs(folder, exist_ok=True)
        tmp = f"{folder}/.{base}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            write(tmp)
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):  # a full disk, an interrupted write: leave nothing half-written
                os.remove(tmp)
            raise
        return target
