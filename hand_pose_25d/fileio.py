"""Atomic file output (stdlib only): a file is either the complete new one or not there at all."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Union

__all__ = ["atomic_output"]


@contextmanager
def atomic_output(path: Union[str, os.PathLike]) -> Iterator[str]:
    """Yield a temporary file name beside ``path`` to write to; on normal exit it replaces ``path``.

    The file gets the mode of any new file (0666 & ~umask, not ``mkstemp``'s 0600). On an exception the temporary
    file is removed and ``path`` is left as it was. The parent folder must exist.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
