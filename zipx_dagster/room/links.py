"""Links into the review room from Dagster asset metadata. The room's address is
ZIPX_ROOM_URL (`python -m zipx_dagster.serve` sets it for the webserver, the daemon
and their runs), http://127.0.0.1:3001 otherwise."""

import os
from urllib.parse import quote

import dagster as dg

DEFAULT_URL = "http://127.0.0.1:3001"


def room_url(path: str = "/") -> str:
    return os.environ.get("ZIPX_ROOM_URL", DEFAULT_URL).rstrip("/") + quote(path)


def room_link(path: str = "/") -> dg.MetadataValue:
    """e.g. `"review_room": room_link(f"/drama/{drama}/{episode}/review")` in an asset's metadata."""
    return dg.MetadataValue.url(room_url(path))
