"""Identifiers derived from script text. Names from scripts never become paths as
they are: every id here is [a-z0-9_] and bounded in length."""

import hashlib
import re
import unicodedata

_NOT_ID = re.compile(r"[^a-z0-9]+")


def stable_hash(*parts: object) -> int:
    """A 64-bit number from the parts, the same on every machine and run."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def slug(text: str, max_length: int = 48) -> str:
    text = text.replace("'", "").replace("’", "")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    full = _NOT_ID.sub("_", ascii_text).strip("_")
    base = full[:max_length].strip("_")
    lossy = sum(c.isalnum() for c in ascii_text) < sum(c.isalnum() for c in text)
    if base and not lossy and base == full:
        return base
    # Non-Latin or shortened names get a hash suffix so distinct names stay distinct.
    suffix = f"{stable_hash(text) % 0xFFFFFF:06x}"
    return f"{base}_{suffix}" if base else f"id_{suffix}"
