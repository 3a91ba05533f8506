"""Atomic file writes: finished work is never left half-written, and what is written carries the
user's normal permissions (as ``open`` would give it under the current umask)."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def _file_mode() -> int:
    """0o666 minus the process umask (read without changing it for long)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over ``path``.

    ``mkstemp`` creates its file readable by the owner alone; the file gets the mode a plain
    ``open`` would have given it before the rename, so collaborators on a shared filesystem can
    read results as they read any other file of the user's."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), _file_mode())
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def jsonable(value: Any) -> Any:
    """Numpy arrays and scalars (nested in dicts and lists) as plain Python for JSON."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def npz_bytes(arrays: dict[str, np.ndarray], compress: bool = True) -> bytes:
    handle = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(handle, **arrays)
    return handle.getvalue()
