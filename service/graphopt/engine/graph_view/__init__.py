"""The networkx view of a model, its JSON and GraphML exports, and the statistics built on it."""

from graphopt.engine.graph_view.costs import node_cost, node_macs
from graphopt.engine.graph_view.export import to_node_link, write_graphml
from graphopt.engine.graph_view.stats import compute_stats
from graphopt.engine.graph_view.view import build_view

__all__ = ["build_view", "compute_stats", "node_cost", "node_macs", "to_node_link", "write_graphml"]
