"""Inputs that live in an object store: ``s3://bucket/videos/m01.mp4``, ``gs://...``, ``https://...``.

The readers (PyAV, movement, OpenCV) need a local file they can seek in, and the stages of an
analysis read the same input several times on different workers (probe, background, each
tracking part, crops). So a remote input is copied once per machine into a cache, under its
URL and its version (ETag, else size and modification time): a changed object is fetched
again, an unchanged one never twice. Two workers of one machine that want the same input
wait for one download (a file lock). The cache is ``$MOUSEGPT_CACHE`` (default
``~/.cache/mousegpt/inputs``); nothing evicts it, so clear it when videos are done with.

Object stores are reached with their usual settings (for S3 the ``AWS_*`` environment
variables, ``AWS_ENDPOINT_URL`` for an S3-compatible server), on every node that reads.
Local paths pass through every function here unchanged.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import uuid
from contextlib import contextmanager
from pathlib import Path

import fsspec

from mousegpt.errors import InputError

CACHE_ENV = "MOUSEGPT_CACHE"


def is_url(path: str | Path | None) -> bool:
    """True for an fsspec URL other than ``file://`` (a ``Path`` is always local)."""
    return isinstance(path, str) and "://" in path and not path.startswith("file://")


def absolute(path: str | Path) -> str:
    """A local path made absolute (it may be relative to where it was typed); a URL as it is."""
    return path if is_url(path) else str(Path(path).resolve())


def _fs(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    try:
        # A new instance: fsspec's cache would keep one made with earlier credentials or endpoint.
        return fsspec.core.url_to_fs(url, skip_instance_cache=True)
    except (ImportError, ValueError) as exc:
        raise InputError(f"{url}: cannot open this URL ({exc})") from None


def _info(url: str) -> dict | None:
    """The object's metadata, or None when there is none; InputError when the store cannot be asked."""
    fs, path = _fs(url)
    try:
        fs.invalidate_cache(path)  # another process may have written it since
        return fs.info(path)
    except FileNotFoundError:
        return None
    except Exception as exc:  # credentials, network, a refused endpoint: botocore, aiohttp...
        raise InputError(f"{url}: cannot reach it ({exc.__class__.__name__}: {exc})") from None


def exists(path: str | Path) -> bool:
    """Whether ``path`` (a local path or a URL) names a file (anything but a folder: a pipe or
    a device is read as a file, and fails or hangs in its reader, where it is reported).
    """
    if not is_url(path):
        return os.path.exists(path) and not os.path.isdir(path)
    info = _info(path)
    return info is not None and info.get("type") != "directory"


def is_folder(path: str | Path) -> bool:
    """Whether ``path`` names a folder (for a URL: a prefix that holds objects)."""
    if not is_url(path):
        return os.path.isdir(path)
    fs, inner = _fs(path)
    try:
        return fs.isdir(inner)
    except Exception as exc:
        raise InputError(f"{path}: cannot reach it ({exc.__class__.__name__}: {exc})") from None


def files_in(folder: str, suffixes: tuple[str, ...]) -> list[str]:
    """The files directly in a folder URL whose names end with one of ``suffixes``, as URLs, sorted."""
    fs, inner = _fs(folder)
    try:
        found = fs.ls(inner, detail=True, refresh=True)
    except Exception as exc:
        raise InputError(f"{folder}: cannot list it ({exc.__class__.__name__}: {exc})") from None
    return sorted(
        fs.unstrip_protocol(f["name"])
        for f in found
        if f.get("type") != "directory" and f["name"].lower().endswith(suffixes)
    )


def join(folder: str, relative: str) -> str:
    """``relative`` (a manifest's entry) under a folder URL; an absolute path or URL as it is."""
    if is_url(relative) or os.path.isabs(relative):
        return relative
    protocol, _, rest = folder.partition("://")
    return f"{protocol}://{posixpath.normpath(posixpath.join(rest, relative))}"


def parent(url: str) -> str:
    """The folder URL holding the object at ``url`` (``s3://lab/a/m.csv`` -> ``s3://lab/a``)."""
    protocol, _, rest = url.partition("://")
    return f"{protocol}://{posixpath.dirname(rest)}"


def cache_dir() -> Path:
    """The folder remote inputs are cached in: ``$MOUSEGPT_CACHE``, or ``~/.cache/mousegpt/inputs``
    when it is unset or empty.
    """
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "mousegpt" / "inputs")


def local(path: str | Path) -> str | Path:
    """A local file holding ``path``: ``path`` itself when local, else this machine's cached copy
    of the object (fetched now if the cache lacks this version). InputError for a missing
    object or an unreachable store, naming the URL.
    """
    if not is_url(path):
        return path
    info = _info(path)
    if info is None or info.get("type") == "directory":
        raise InputError(f"{path}: no such file")
    version = str(
        info.get("ETag")
        or info.get("etag")
        or (info.get("size"), info.get("LastModified") or info.get("mtime"))
    )
    key = hashlib.sha256(f"{path}\0{version}".encode()).hexdigest()[:24]
    # The object's own name is kept: formats are told apart by suffix (and a DeepLabCut CSV by more).
    copy = cache_dir() / key / posixpath.basename(path.rstrip("/"))
    if copy.is_file():
        return str(copy)
    from filelock import FileLock  # only when a remote input is fetched

    copy.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(copy.parent / ".lock")):
        if copy.is_file():  # another worker fetched it while this one waited
            return str(copy)
        tmp = copy.parent / f".{copy.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part"
        fs, inner = _fs(path)
        try:
            fs.get_file(inner, str(tmp))
            os.replace(tmp, copy)
        except Exception as exc:
            tmp.unlink(missing_ok=True)  # a full disk, a dropped connection: no half copy is ever used
            if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError) and exc.errno is not None:
                raise InputError(f"{path}: cannot copy it to {cache_dir()} ({exc.strerror})") from None
            raise InputError(f"{path}: cannot read it ({exc.__class__.__name__}: {exc})") from None
    return str(copy)


@contextmanager
def as_local(path: str | Path):
    """``local(path)``, with errors raised inside the block naming ``path`` rather than the cached copy."""
    copy = local(path)
    if copy is path:
        yield path
        return
    try:
        yield copy
    except InputError as exc:
        raise InputError(str(exc).replace(str(copy), str(path))) from None


def open_remote(url: str):
    """A seekable binary file over the object itself, read in ranges (for a short clip of a long
    video, where copying the whole file would be wasted).
    """
    fs, inner = _fs(url)
    if _info(url) is None:
        raise InputError(f"{url}: no such file")
    return fs.open(inner, "rb")
