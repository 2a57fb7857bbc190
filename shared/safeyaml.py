"""The one YAML loader for text from a repository or an LLM: bounded in size, depth and expansion.

``yaml.safe_load`` builds no arbitrary objects, but it happily builds a "billion laughs"
document: anchors and aliases make a 439-byte compose file a graph whose *expansion* (what
``str()``, a JSON dump or a walk over it produces) is hundreds of megabytes. PyYAML shares
the aliased objects, so the damage shows up later, far from the parse, as an analyzer killed
for memory on every redelivery. This loader refuses such a document from the parser's
events, before any Python object exists, with a reason that names the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

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


# libyaml parses a 256 KiB line in milliseconds where the pure-Python scanner takes a
# second; both give the same events and the same objects.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _check_events(text: str, source: str, limits: YamlLimits) -> None:
    """Refuse a document that is too deep, too big, or whose aliases expand past max_nodes.

    One streaming pass over the parser's events, before anything is built: each open
    collection adds up its expanded size, an anchor remembers its own, and an alias counts
    as the whole node it stands for. Linear in the text, whatever the aliases multiply.
    """
    anchors: dict[str, int] = {}
    open_sizes: list[list[Any]] = []  # per open collection: [anchor, expanded size]
    composed = 0

    def add(size: int) -> None:
        if open_sizes:
            open_sizes[-1][1] += size
            if open_sizes[-1][1] > limits.max_nodes:
                raise DocumentRefused(
                    source,
                    f"YAML aliases expand to more than {limits.max_nodes} nodes "
                    "(an alias bomb); write the repeated parts out or remove the anchors",
                )

    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.AliasEvent):
            if any(anchor == event.anchor for anchor, _ in open_sizes):
                raise DocumentRefused(source, "a YAML alias refers to the node that contains it")
            add(anchors.get(event.anchor or "", 1))  # an undefined one fails the load itself
            continue
        if not isinstance(event, yaml.NodeEvent | yaml.CollectionEndEvent):
            continue
        if isinstance(event, yaml.NodeEvent):
            composed += 1
            if composed > limits.max_nodes:
                raise DocumentRefused(source, f"more than {limits.max_nodes} YAML nodes")
        if isinstance(event, yaml.CollectionStartEvent):
            if len(open_sizes) >= limits.max_depth:
                raise DocumentRefused(source, f"YAML nested deeper than {limits.max_depth} levels")
            open_sizes.append([event.anchor, 1])
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, size = open_sizes.pop()
        else:
            anchor, size = event.anchor, 1
        if anchor is not None:
            anchors[anchor] = size
        add(size)


def load_untrusted_yaml(text: str, *, source: str, limits: YamlLimits | None = None) -> Any:
    """Parse one YAML document from a repository or an LLM; ``source`` names it in errors.

    Raises ``DocumentRefused`` for a document past the limits, and ``yaml.YAMLError`` for
    one that is not valid YAML, including values PyYAML cannot build (a 13th month, an
    integer of 5000 digits), which would otherwise escape as a bare ``ValueError``.
    """
    limits = limits or YamlLimits()
    if len(text) > limits.max_bytes:
        raise DocumentRefused(source, f"YAML larger than {limits.max_bytes} bytes")
    _check_events(text, source, limits)
    try:
        return yaml.load(text, Loader=_LOADER)  # noqa: S506 -- a SafeLoader, bounded above
    except (ValueError, TypeError, OverflowError) as exc:
        raise yaml.constructor.ConstructorError(problem=f"cannot build a value: {exc}") from exc
