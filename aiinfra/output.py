"""Files the commands write (the report, the pull-request Markdown, SARIF, JUnit, team requests).

Each is checked before the slow part of its command runs (`check_writable`), so a typo in a path costs no
plan, and written atomically (`write_atomically`): a failure leaves the previous file as it was and no
half-written one. Either way a path that cannot be written is an InputError naming the flag that gave it.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from aiinfra.core.errors import InputError, Problem
from aiinfra.interrupts import temporary_path

_SPECIAL = (
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISSOCK, "socket"),
)


def unwritable(path: Path, flag: str, err: OSError) -> InputError:
    """The error for an OSError writing `path`, given by `flag`."""
    reason = err.strerror or str(err)
    return InputError(Problem(flag, f"'{path}' — cannot write there ({reason}); choose a writable path"))


def _destination(path: Path, flag: str) -> Path:
    """The regular file that writing `path` replaces: `path` itself or, for a symlink, what it points to
    (so the link stays a link). Anything else that is already there (a directory, device, FIFO) is refused."""
    real = Path(os.path.realpath(path))
    try:
        mode: int | None = real.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as err:  # a symlink loop, a file used as a directory, no permission to look
        raise unwritable(path, flag, err) from None
    if mode is not None and stat.S_ISDIR(mode):
        raise InputError(Problem(flag, f"{path} is a directory; give the name of a file in it"))
    if mode is not None and not stat.S_ISREG(mode):
        kind = next((name for test, name in _SPECIAL if test(mode)), "special file")
        raise InputError(Problem(flag, f"'{path}' is a {kind}, not a regular file; choose a file path"))
    if not real.parent.is_dir():
        shown = real.parent if path.is_symlink() else path.parent
        raise InputError(Problem(flag, f"{shown}: no such directory; create it or write elsewhere"))
    return real


def _temporary_beside(real: Path, path: Path, flag: str) -> tuple[int, str]:
    """A new empty file in `real`'s directory, to rename over `real` once written."""
    try:
        return tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.", suffix=".tmp")
    except OSError as err:
        raise unwritable(path, flag, err) from None


def check_writable(path: Path, flag: str) -> None:
    """Refuse an output that cannot be written: create and remove a temporary file where it would go."""
    fd, probe = _temporary_beside(_destination(path, flag), path, flag)
    os.close(fd)
    os.unlink(probe)


def write_atomically(path: Path, text: str, flag: str) -> None:
    """Write through a temporary file next to `path` (or next to what its symlink points to), then rename:
    a failure leaves no half file and the old one intact. Raises InputError naming `flag` on any OSError."""
    real = _destination(path, flag)
    fd, tmp = _temporary_beside(real, path, flag)
    with temporary_path(Path(tmp)):
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, real)
        except BaseException as err:
            Path(tmp).unlink(missing_ok=True)
            if isinstance(err, OSError):
                raise unwritable(path, flag, err) from None
            raise


def check_directory(path: Path, flag: str) -> None:
    """Refuse an output directory that cannot be made: its nearest existing ancestor must be a directory
    this process can write to. Creates nothing."""
    ancestor = path
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(Problem(flag, f"'{path}' — {ancestor} is not a directory; choose a directory path"))
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InputError(Problem(flag, f"'{path}' — cannot write in {ancestor}; choose a writable path"))
