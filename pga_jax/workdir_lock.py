"""One writer per workdir: an advisory lock that training holds for the whole run.

`hold(workdir)` takes an exclusive `flock` on `WORKDIR/.lock` (which records the holder's pid
and host) without waiting; a second process asking for the same workdir gets a one-line
`WorkdirBusyError` naming the holder's pid. The kernel releases the lock when the holder's file
descriptor closes, so a process killed with `kill -9` leaves nothing stuck: the next start takes
the lock (the stale pid in the file is overwritten). In a multi-host run only process 0 holds
it (the others write nothing a second run would overwrite: distributed.is_primary); a
population holds the lock of each member's workdir.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket

from pga_jax import distributed, errors

LOCK_FILE = ".lock"


class WorkdirBusyError(errors.UserError, RuntimeError):
    """Another process holds the workdir; the message names its pid."""


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode(errors="replace").split()
    except OSError:
        return "another process"
    return f"process {text[0]}" + (f" on {text[1]}" if len(text) > 1 else "")


@contextlib.contextmanager
def hold(workdir: str):
    """Holds `workdir`'s lock while inside (process 0 only; the others pass through)."""
    if not distributed.is_primary():
        yield
        return
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, LOCK_FILE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            raise WorkdirBusyError(
                f"{workdir} is in use by {_holder(fd)} (it holds {path}); wait for it to "
                "finish or stop it, or use another --workdir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock (the kernel does the same for a killed process)
