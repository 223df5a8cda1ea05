"""Atomic file writes: readers never see a half-written file, and an interrupted or failed
write leaves the previous file (if any) untouched."""

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path beside `path`; on success it becomes `path` in one rename.

    The temporary name keeps `path`'s suffix (so `np.save`/`np.savez` add none) and holds the
    process id (so two writers never share it). On an exception it is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: str | os.PathLike, obj) -> None:
    """Writes `obj` as indented, key-sorted JSON, atomically."""
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
