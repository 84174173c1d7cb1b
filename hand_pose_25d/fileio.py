"""File output (stdlib + numpy): atomic writes, and strict JSON of results that hold numpy values and NaN.

* :func:`atomic_output` -- a file is either the complete new one or not there at all;
* :func:`json_safe` -- the one NaN-to-JSON conversion of the package (numpy -> Python, NaN/inf -> null);
* :func:`write_json` -- :func:`json_safe` + strict JSON, written atomically.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional, Union

import numpy as np

__all__ = ["atomic_output", "json_safe", "write_json"]


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


def json_safe(obj: Any) -> Any:
    """Recursively turn numpy values into Python ones and NaN/inf into None (strict JSON: RFC 8259 has no NaN).

    Dict keys become strings; tuples and arrays become lists; anything else is returned as it is.
    """
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def write_json(path: Union[str, os.PathLike], obj: Any, *, indent: Optional[int] = 2) -> Path:
    """Write ``json_safe(obj)`` as strict JSON (with a final newline) to ``path`` atomically; returns the path."""
    path = Path(path)
    text = json.dumps(json_safe(obj), indent=indent, allow_nan=False) + "\n"
    with atomic_output(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return path
