"""The base of every response type: unknown fields are kept, never rejected.

The server only adds fields within an API (and report schema) major version, so a newer
server must never break an older client; extra fields stay readable as attributes.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class APIObject(BaseModel):
    """A server response object (extra fields allowed and preserved)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
