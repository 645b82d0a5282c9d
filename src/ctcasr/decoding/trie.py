"""A prefix tree kept as a list of child maps (node 0 is the root): the pronunciation and hotword tries."""

from __future__ import annotations

from collections.abc import Hashable, Iterable


def insert(children: list[dict], keys: Iterable[Hashable]) -> list[int]:
    """Walk `keys` from the root, adding the nodes that are missing; the nodes passed, in order (root left out)."""
    nodes, node = [], 0
    for key in keys:
        nxt = children[node].get(key)
        if nxt is None:
            nxt = children[node][key] = len(children)
            children.append({})
        nodes.append(nxt)
        node = nxt
    return nodes
