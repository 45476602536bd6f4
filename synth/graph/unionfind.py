"""Union-find over dense integer ids (path halving, union by size): entity resolution and components."""

from __future__ import annotations

from array import array


class UnionFind:
    def __init__(self, size: int = 0) -> None:
        self.parent = array("l", range(size))
        self.size = array("l", [1] * size)

    def add(self) -> int:
        node = len(self.parent)
        self.parent.append(node)
        self.size.append(1)
        return node

    def __len__(self) -> int:
        return len(self.parent)

    def find(self, node: int) -> int:
        parent = self.parent
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def union(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        return ra
