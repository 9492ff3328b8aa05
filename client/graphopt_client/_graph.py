"""Turn a graph export into a networkx graph when networkx is installed (it is optional)."""

from __future__ import annotations

import io
import json
from typing import Any, Literal

GraphFormat = Literal["node-link", "graphml"]


def decode_graph(body: bytes, fmt: GraphFormat) -> Any:
    """A ``networkx.MultiDiGraph`` when networkx imports, else the JSON dict (node-link) or
    the GraphML text. Nested subgraph views stay node-link dicts in node attributes."""
    try:
        import networkx as nx
    except ImportError:
        return json.loads(body) if fmt == "node-link" else body.decode("utf-8")
    if fmt == "graphml":
        return nx.read_graphml(io.BytesIO(body))
    return nx.node_link_graph(json.loads(body), edges="edges")
