"""The one YAML loader for text from a repository or an LLM: bounded in size, depth and expansion.

``yaml.safe_load`` builds no arbitrary objects, but it happily builds a "billion laughs"
document: anchors and aliases make a 439-byte compose file a graph whose *expansion* (what
``str()``, a JSON dump or a walk over it produces) is hundreds of megabytes. PyYAML shares
the aliased objects, so the damage shows up later, far from the parse, as an analyzer killed
for memory on every redelivery. This loader refuses such a document while composing it,
before any Python object exists, with a reason that names the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

__all__ = ["DocumentRefused", "YamlLimits", "load_untrusted_yaml"]


class DocumentRefused(ValueError):
    """A document from a repository or an LLM is too big, too deep or an alias bomb.

    Not a ``yaml.YAMLError`` on purpose: callers that skip *invalid* YAML must not skip
    a hostile document silently; the job fails with this message instead.
    """

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: refused: {reason}")
        self.source = source
        self.reason = reason


@dataclass(frozen=True)
class YamlLimits:
    """How much a document may hold. A real compose file is a few hundred nodes, 5-10 deep."""

    max_bytes: int = 1024 * 1024
    max_depth: int = 64
    # Nodes once every alias is expanded: what a consumer walking the result would visit.
    max_nodes: int = 50_000


def _bounded_loader(source: str, limits: YamlLimits) -> type[yaml.SafeLoader]:
    """A SafeLoader subclass that counts depth and nodes while composing."""

    class BoundedLoader(yaml.SafeLoader):
        _depth = 0
        _composed = 0

        def compose_node(self, parent: Node | None, index: Any) -> Node | None:
            if not self.check_event(yaml.AliasEvent):
                self._composed += 1
                if self._composed > limits.max_nodes:
                    raise DocumentRefused(source, f"more than {limits.max_nodes} YAML nodes")
            self._depth += 1
            if self._depth > limits.max_depth:
                raise DocumentRefused(source, f"YAML nested deeper than {limits.max_depth} levels")
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def compose_document(self) -> Node | None:
            node = super().compose_document()
            if node is not None:
                _check_expansion(node, source, limits)
            return node

    return BoundedLoader


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_expansion(root: Node, source: str, limits: YamlLimits) -> None:
    """Refuse a graph whose aliases expand past max_nodes, or that refers to itself.

    Iterative (an alias chain can be longer than Python's recursion limit) and linear in
    the composed graph: each node's expanded size is computed once and reused.
    """
    size: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in _children(node))
            if size[key] > limits.max_nodes:
                raise DocumentRefused(
                    source,
                    f"YAML aliases expand to more than {limits.max_nodes} nodes "
                    "(an alias bomb); write the repeated parts out or remove the anchors",
                )
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise DocumentRefused(source, "a YAML alias refers to the node that contains it")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in size)


def load_untrusted_yaml(text: str, *, source: str, limits: YamlLimits | None = None) -> Any:
    """Parse one YAML document from a repository or an LLM; ``source`` names it in errors.

    Raises ``DocumentRefused`` for a document past the limits, and ``yaml.YAMLError`` for
    one that is not valid YAML, including values PyYAML cannot build (a 13th month, an
    integer of 5000 digits), which would otherwise escape as a bare ``ValueError``.
    """
    limits = limits or YamlLimits()
    if len(text) > limits.max_bytes:
        raise DocumentRefused(source, f"YAML larger than {limits.max_bytes} bytes")
    loader = _bounded_loader(source, limits)(text)
    try:
        return loader.get_single_data()
    except (ValueError, TypeError, OverflowError) as exc:
        if isinstance(exc, DocumentRefused):
            raise
        raise yaml.constructor.ConstructorError(problem=f"cannot build a value: {exc}") from exc
    finally:
        loader.dispose()
