"""Running onnxscript rewrite rules as a graphopt :class:`GraphPass`.

A fusion pass declares its rules (onnxscript ``RewriteRule`` objects: pattern, check,
replacement) for a given opset and target; :class:`RuleFusionPass` applies them to one
graph body at a time, so the pass manager's walk covers If/Loop/Scan bodies and
model-local functions. Differences from onnxscript's own driver, and why:

- it never recurses into subgraphs itself (the manager visits every body once);
- constants a replacement creates with ``op.initializer`` get fresh, model-unique names in
  a graph body and become ``Constant`` nodes in a function body (functions cannot hold
  initializers), so a rule never overwrites an existing initializer;
- values the replacement leaves unnamed are named afterwards (``NameFixPass``), so the
  model always serializes.

Matched intermediate values must be used only inside the match and must not be graph
outputs (onnxscript's matcher checks that), so a fusion never drops a value someone reads.
"""

from __future__ import annotations

import abc
import functools
import itertools
import math
from collections.abc import Iterable, Sequence

import numpy as np
import onnx_ir as ir
import onnx_ir.passes.common as ir_common
from onnxscript.optimizer import basic_constant_propagation
from onnxscript.rewriter import RewriteRule
from onnxscript.rewriter._pattern_ir import NodePattern, StringConstantPattern

from graphopt.engine import traversal
from graphopt.engine.passes.base import GraphPass, PassContext, PassFamily, PassOutcome
from graphopt.engine.passes.constants import const_array, known_rank
from graphopt.engine.traversal import GraphBody

ONNXRUNTIME = "onnxruntime"
MS_DOMAIN = "com.microsoft"


class FusionGraphPass(GraphPass):
    """Base of fusion passes that add nodes and constants: ``self._fresh`` names new
    constants; a run that counted an application in ``self._applied`` ends with onnx-ir's
    ``NameFixPass``, which names the values the new nodes left unnamed."""

    family = PassFamily.FUSION
    lossless = True

    def start(self, model: ir.Model, ctx: PassContext) -> PassOutcome:
        self._fresh = FreshNames(model)
        self._applied = 0
        return PassOutcome()

    def finish(self, model: ir.Model, ctx: PassContext) -> PassOutcome:
        if self._applied:
            ir_common.NameFixPass()(model)
        return PassOutcome()


class RuleFusionPass(FusionGraphPass):
    """Base of fusion passes written as onnxscript rewrite rules (see module docstring)."""

    @abc.abstractmethod
    def rules(self, opset: int, target: str) -> Sequence[RewriteRule]:
        """The rules that apply at default-domain ``opset`` for ``target`` (maybe none)."""

    def run_on_body(self, body: GraphBody, model: ir.Model, ctx: PassContext) -> PassOutcome:
        outcome = PassOutcome()
        rules = self.rules(traversal.onnx_opset(body, model), ctx.target)
        if not rules:
            return outcome
        basic_constant_propagation(body)  # pattern constants are read from ``const_value``
        by_op = _RuleIndex(rules, body)
        for node in list(body):
            if node.graph is None:  # removed by an earlier rewrite of this walk
                continue
            producers: set[str] | None = None
            for rule, children in by_op.rules_for(node.op_type):
                if children:
                    if producers is None:
                        producers = {p.op_type for v in node.inputs if v and (p := v.producer())}
                    if not children <= producers:
                        continue  # cannot match here: onnxscript's matcher need not try
                delta = rule.try_rewrite(model, body, node)
                if delta is None:
                    continue
                new_nodes = place_constants(body, delta.new_initializers, self._fresh)
                new_nodes.extend(delta.new_nodes)
                ir.convenience.replace_nodes_and_values(
                    body,
                    node,
                    delta.match.nodes,
                    new_nodes,
                    delta.match.outputs,
                    delta.new_outputs,
                )
                by_op.add_op_types(n.op_type for n in new_nodes)
                outcome.counts[rule.name or type(rule).__name__] += 1
                self._applied += 1
                break
        return outcome


class _RuleIndex:
    """The rules that can match in one body, by the op type of the node a match starts at.

    A rule is left out while an op type its pattern needs on every match does not occur in
    the body (commuted variants multiply rules: Gelu has 688 at opset 20), and a
    single-output-node pattern is only tried at nodes of its root's op type, and only where
    the root's inputs are produced by the op types its pattern reads them from
    (``_child_op_types``): on a 50,000-node graph, trying every rule at every node was most
    of the fusion time. Rule order is kept; op types a rewrite adds make the rules needing
    them eligible.
    """

    def __init__(self, rules: Sequence[RewriteRule], body: GraphBody) -> None:
        self._all = [(rule, _root_op_type(rule), _required_op_types(rule)) for rule in rules]
        self._present = {node.op_type for node in body}
        self._refilter()

    def add_op_types(self, op_types: Iterable[str]) -> None:
        """Note op types a rewrite added to the body."""
        new = set(op_types) - self._present
        if new:
            self._present |= new
            self._refilter()

    def rules_for(self, op_type: str) -> list[tuple[RewriteRule, frozenset[str]]]:
        """The eligible rules a match may start at a node of ``op_type``, each with the op
        types that must produce some of that node's inputs."""
        found = self._cache.get(op_type)
        if found is None:
            found = [
                (rule, _child_op_types(rule))
                for rule, root in self._eligible
                if root is None or root == op_type
            ]
            self._cache[op_type] = found
        return found

    def _refilter(self) -> None:
        self._eligible = [(r, root) for r, root, needs in self._all if needs <= self._present]
        self._cache: dict[str, list[tuple[RewriteRule, frozenset[str]]]] = {}


def _root_op_type(rule: RewriteRule) -> str | None:
    """The op type a rule's match must start at, or None when any node may start one."""
    pattern = getattr(rule, "_target_pattern", None)
    if pattern is None or not pattern.has_single_output_node:
        return None
    return _op_type(pattern.output_node)


def _op_type(node: NodePattern) -> str | None:
    """The op type a pattern node matches, when it is one fixed name."""
    return node.op_type if isinstance(node.op, StringConstantPattern) else None


@functools.cache
def _child_op_types(rule: RewriteRule) -> frozenset[str]:
    """Op types that produce inputs of a match's root: those of the pattern nodes its
    single output node reads directly (empty for other patterns)."""
    pattern = getattr(rule, "_target_pattern", None)
    if pattern is None or not pattern.has_single_output_node:
        return frozenset()
    children = (v.producer() for v in pattern.output_node.inputs if v is not None)
    return frozenset(op for child in children if child and (op := _op_type(child)))


@functools.cache
def _required_op_types(rule: RewriteRule) -> frozenset[str]:
    """Op types every match of ``rule`` contains: those of the pattern nodes reachable from
    its output nodes through plain node outputs (alternatives, ``OrValue``, are not
    followed, since a match need not contain either side)."""
    pattern = getattr(rule, "_target_pattern", None)
    if pattern is None:
        return frozenset()
    found: set[str] = set()
    seen: set[int] = set()
    stack = list(pattern.output_nodes)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        op_type = _op_type(node)
        if op_type is not None:
            found.add(op_type)
        stack.extend(v.producer() for v in node.inputs if v is not None and v.producer())
    return frozenset(found)


def place_constants(
    body: GraphBody, values: Sequence[ir.Value], fresh: FreshNames
) -> list[ir.Node]:
    """Name new constants freshly and register them in ``body``: as initializers in a
    graph; in a function, which has none, return the Constant nodes to insert instead."""
    nodes: list[ir.Node] = []
    for value in values:
        value.name = fresh(value.name or "fused")
        if isinstance(body, ir.Graph):
            body.register_initializer(value)
            continue
        assert value.const_value is not None
        constant = ir.node("Constant", [], {"value": value.const_value})
        constant.outputs[0].name = value.name
        constant.outputs[0].type = value.type
        constant.outputs[0].shape = value.shape
        value.replace_all_uses_with(constant.outputs[0])
        nodes.append(constant)
    return nodes


def new_constant(hint: str, array: np.ndarray) -> ir.Value:
    """A typed and shaped value holding ``array``, for :func:`place_constants` to name and
    register."""
    value = ir.Value(name=hint, const_value=tensor(array))
    value.type = ir.TensorType(ir.DataType.from_numpy(array.dtype))
    value.shape = ir.Shape(array.shape)
    return value


class FreshNames:
    """Names no value of the model has yet: ``fresh(hint)`` is ``hint``, or ``hint_N``.

    The model's names are read when the first name is asked for (most pass runs rewrite
    nothing); the names handed out are remembered.
    """

    def __init__(self, model: ir.Model) -> None:
        self._model = model
        self._names: set[str] | None = None
        self._counter = itertools.count()

    def __call__(self, hint: str) -> str:
        if self._names is None:
            self._names = _used_names(self._model)
        name = hint
        while name in self._names:
            name = f"{hint}_{next(self._counter)}"
        self._names.add(name)
        return name


def _used_names(model: ir.Model) -> set[str]:
    names: set[str] = set()
    for body in traversal.graph_bodies(model):
        names.update(v.name for v in body.inputs if v.name)
        if isinstance(body, ir.Graph):
            names.update(n for n in body.initializers if n)
        for node in body:
            names.update(v.name for v in node.outputs if v.name)
    return names


def tensor(array: np.ndarray, like: ir.Value | None = None) -> ir.TensorProtocol:
    """An IR tensor of ``array`` (cast to ``like``'s dtype when given)."""
    if like is not None and like.dtype is not None:
        array = array.astype(like.dtype.numpy())
    return ir.tensor(np.ascontiguousarray(array))


def near_scalar(value: ir.Value, want: float, like: ir.Value) -> bool:
    """Whether ``value`` is a one-element constant close to ``want`` that broadcasts with ``like``.

    Unlike an onnxscript pattern constant (0-d only) this accepts the ``[1]``-shaped
    constants many exporters write, as long as its rank is at most ``like``'s known rank
    (so replacing the op keeps the output shape). Tolerance: relative ``max(1e-5, 4 eps)``
    of the constant's float type (float16 constants carry few digits).
    """
    array = const_array(value)
    if array is None or array.size != 1 or array.dtype.kind not in "fiu":
        return False
    if array.ndim > (known_rank(like) or 0):
        return False
    eps = float(np.finfo(array.dtype).eps) if array.dtype.kind == "f" else 0.0
    return math.isclose(float(array.reshape(-1)[0]), want, rel_tol=max(1e-5, 4 * eps))
