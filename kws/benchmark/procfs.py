"""What Linux's ``/proc`` says about a process: its memory figures and its CPU seconds, for the
``stream`` benchmark (its own peak memory) and the ``listen`` one (a listener's CPU and memory)."""

from __future__ import annotations

import os
import re
from pathlib import Path


def status_mb(field: str, pid: int | str = "self") -> float | None:
    """A memory field of ``/proc/<pid>/status``, MB.

    Args:
        field: the field, e.g. ``VmRSS`` (resident memory now) or ``VmHWM`` (its peak).
        pid: the process; default ``self``, this one.

    Returns:
        The figure; None where the file cannot be read or lacks the field (not Linux, or a
        process that has ended).
    """
    try:
        found = re.search(rf"{field}:\s*(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return None
    return int(found.group(1)) / 1024 if found else None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (``/proc/<pid>/stat``'s utime + stime).

    Args:
        pid: the process.

    Raises:
        OSError: there is no such process (or no ``/proc``).
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
