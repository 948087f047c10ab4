"""Files only their owner may read: reports hold zone addresses, commands and output tails.

Owns ``write_private``: text written to a new file of mode 0600 in the target's folder, then
renamed over the target (atomic; an existing file of wider mode is replaced, not reused).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

MODE = 0o600


def write_private(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` with mode 0600, atomically. Raises OSError."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
