"""Deterministic topological ordering of plugins."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class CycleError(Exception):
    """The ordering constraints contain a cycle; ``path`` lists it, first node repeated."""

    def __init__(self, path: list[str]) -> None:
        self.path = path
        super().__init__(" -> ".join(f"`{name}`" for name in path))


def topological_order(nodes: Sequence[str], edges: Mapping[str, set[str]]) -> list[str]:
    """Order ``nodes`` so every node comes after the nodes it depends on.

    Args:
        nodes: the names in the user's preferred order; ties keep this order.
        edges: ``edges[n]`` is the set of names that must come before ``n``.
            Names that are not in ``nodes`` are ignored.

    Returns:
        The ordered names.

    Raises:
        CycleError: the constraints cannot be satisfied; the error carries the cycle.
    """
    position = {name: index for index, name in enumerate(nodes)}
    pending = {name: {dep for dep in edges.get(name, ()) if dep in position} for name in nodes}
    ordered: list[str] = []
    while pending:
        # Picking the ready node with the lowest user position each round keeps the
        # result stable: the same inputs always give the same order.
        ready = [name for name, deps in pending.items() if not deps]
        if not ready:
            raise CycleError(_find_cycle(pending))
        chosen = min(ready, key=position.__getitem__)
        ordered.append(chosen)
        del pending[chosen]
        for deps in pending.values():
            deps.discard(chosen)
    return ordered


def _find_cycle(pending: Mapping[str, set[str]]) -> list[str]:
    start = min(pending)
    path = [start]
    seen = {start: 0}
    node = start
    while True:
        node = min(pending[node])
        if node in seen:
            return [*path[seen[node] :], node]
        seen[node] = len(path)
        path.append(node)
