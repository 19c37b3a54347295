"""Number formatting and size parsing shared by widgets and dialogs (no Textual, no engine)."""

from __future__ import annotations

import errno
import re

_UNITS = "KMGTPE"
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgtpe]?)(?:i?b)?\s*", re.IGNORECASE)


def human(nbytes: float) -> str:
    """htop-style size with binary units: 512K, 96.0M, 1.23G."""
    if nbytes < 1024:
        return f"{int(nbytes)}B"
    value, unit = nbytes / 1024, 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    digits = 0 if value >= 100 else 1 if value >= 10 else 2
    return f"{value:.{digits}f}{_UNITS[unit]}"


def count(n: float) -> str:
    """A rate or count in at most 5 characters: 812, 12.3k, 456k, 1.20M."""
    if n < 1000:
        return f"{n:.0f}"
    for unit in "kMG":
        n /= 1000
        if n < 999.5 or unit == "G":
            return f"{n:.3g}{unit}"


def kb(n_kb: int) -> str:
    return human(n_kb * 1024)


def parse_size(text: str) -> int:
    """Bytes from '4096', '512K', '512M', '2G', '1.5G', '64MiB' (binary units, like the
    kernel's memparse). ValueError with a readable reason otherwise."""
    m = _SIZE.fullmatch(text)
    if not m:
        raise ValueError(f"{text.strip()!r} is not a size: use a number with an optional unit, "
                         "e.g. 4096, 512K, 512M, 2G")
    number, unit = m.groups()
    scale = 1 << (10 * (_UNITS.index(unit.upper()) + 1)) if unit else 1
    value = float(number) * scale if "." in number else int(number) * scale
    if value != int(value):
        raise ValueError(f"{text.strip()!r} is not a whole number of bytes")
    return int(value)


def seconds(tick: int, tick_ms: int) -> str:
    return f"{tick * tick_ms / 1000:.2f}"


def describe(e: OSError) -> str:
    """An engine refusal as 'ENOMEM, <the engine's reason>'."""
    name = errno.errorcode.get(e.errno, str(e.errno)) if e.errno else "error"
    return f"{name}, {e.strerror or e}"


def error_text(e: Exception) -> str:
    """An OSError as describe() puts it; another error (a bad save, a taken branch name) as
    its message."""
    return describe(e) if isinstance(e, OSError) else str(e)
