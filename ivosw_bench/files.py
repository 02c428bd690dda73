"""Writing files so that a kill never leaves a half-written one: every file ivosw-bench writes goes
through :func:`atomic_write` (write a temporary sibling, flush, rename over the target).

The temporary name is ``<name>.partial`` in the same folder (a rename is atomic only within one file
system); readers that list a folder skip ``*.partial`` (:func:`is_partial`).
"""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import IO, Iterator

PARTIAL_SUFFIX = ".partial"


def partial_path(path: Path) -> Path:
    return Path(path).with_name(Path(path).name + PARTIAL_SUFFIX)


def is_partial(path: Path) -> bool:
    return Path(path).name.endswith(PARTIAL_SUFFIX)


@contextlib.contextmanager
def atomic_open(path, mode: str = "w", fsync: bool = True) -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; on success rename it over ``path``, on an
    exception delete it (``path`` keeps its old content)."""
    path = Path(path)
    tmp = partial_path(path)
    try:
        with open(tmp, mode) as fh:
            yield fh
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write(path, data: str | bytes, fsync: bool = True) -> Path:
    """Write text or bytes to ``path`` atomically; returns ``path``. Writers that take a file object
    (``torch.save``, ``np.savez``, ``Figure.savefig``) use :func:`atomic_open` with mode ``"wb"``."""
    path = Path(path)
    with atomic_open(path, "wb" if isinstance(data, bytes) else "w", fsync=fsync) as fh:
        fh.write(data)
    return path


def write_json(path, obj, indent: int | None = 2, sort_keys: bool = False) -> Path:
    """``obj`` as JSON, atomically."""
    return atomic_write(path, json.dumps(obj, indent=indent, sort_keys=sort_keys))
