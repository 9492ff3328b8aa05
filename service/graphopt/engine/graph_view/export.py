"""Exports of a view (see :mod:`graphopt.engine.graph_view.view`) to node-link JSON and GraphML."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

import networkx as nx


def to_node_link(view: nx.MultiDiGraph) -> dict[str, Any]:
    """Node-link data (``edges`` key) of ``view``; nested views become node-link dicts too.

    The result is ``json.dumps``-able and loads back with ``nx.node_link_graph(data,
    edges="edges")``. ``view`` is not changed.
    """
    data = nx.node_link_data(view, edges="edges")
    data["graph"] = dict(data["graph"])
    if "functions" in data["graph"]:
        data["graph"]["functions"] = {
            key: to_node_link(function) for key, function in data["graph"]["functions"].items()
        }
    for node in data["nodes"]:
        if "subgraphs" in node:
            node["subgraphs"] = {
                attr: [to_node_link(nested) for nested in views]
                for attr, views in node["subgraphs"].items()
            }
    return data


def write_graphml(view: nx.MultiDiGraph, path_or_file: str | Path | IO[bytes]) -> None:
    """Write ``view`` as one flat GraphML graph that ``nx.read_graphml`` loads back.

    Nested views are flattened into the same graph: a subgraph node gets the id
    ``"{owner_id}/{attr}/{i}/{inner_id}"`` (the nested view's id, then its own id) and a
    ``parent`` attribute naming its owner; a function body's node gets
    ``"function:{key}/{inner_id}"`` and a ``function`` attribute holding the key. Dict and
    list attributes are written as JSON strings; None values are dropped.
    """
    flat = nx.MultiDiGraph(
        **_graphml_attrs({k: v for k, v in view.graph.items() if k != "functions"})
    )
    _flatten_into(flat, view, {})
    for key, function in view.graph.get("functions", {}).items():
        _flatten_into(flat, function, {"function": key})
    nx.write_graphml(flat, path_or_file)


def _flatten_into(flat: nx.MultiDiGraph, view: nx.MultiDiGraph, extra: dict[str, str]) -> None:
    """Copy ``view`` into ``flat`` under its id prefix, then its nested views, recursively."""
    prefix = f"{view.graph['id']}/" if view.graph.get("id") else ""
    for node_id, attrs in view.nodes(data=True):
        flat_id = prefix + node_id
        if flat_id in flat:
            raise ValueError(f"flattened node id {flat_id!r} is not unique")
        own = {k: v for k, v in attrs.items() if k != "subgraphs"}
        flat.add_node(flat_id, **_graphml_attrs({**own, **extra}))
        for nested_views in attrs.get("subgraphs", {}).values():
            for nested in nested_views:
                _flatten_into(flat, nested, {**extra, "parent": flat_id})
    for source, target, attrs in view.edges(data=True):
        flat.add_edge(prefix + source, prefix + target, **_graphml_attrs(attrs))


def _graphml_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    """GraphML-safe attributes: dicts and lists as JSON strings, None values dropped."""
    return {
        key: json.dumps(value) if isinstance(value, dict | list) else value
        for key, value in attrs.items()
        if value is not None
    }
