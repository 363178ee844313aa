"""Consistent hashing with virtual nodes, and the Merkle trees replicas compare.

Section 4.2 of the paper: every node owns several positions (*tokens*, its virtual nodes) on a
ring of hash values; a key lives at the first token clockwise from its own hash, and its
*preference list* is the first N distinct physical nodes met walking on from there. The arc
that ends at a token is a *key range*; every key in it has the same preference list, and its
N replicas keep one Merkle tree per range (section 4.7).
"""

from __future__ import annotations

import functools
import hashlib
from bisect import bisect_left
from collections.abc import Sequence

import attrs

from models.dynamo import Version

SPACE = 1 << 32  # positions on the ring
LEAVES = 4  # leaves of a range's Merkle tree; the tree is binary, log2(LEAVES) levels deep
DEPTH = LEAVES.bit_length() - 1


@functools.cache  # pure, and asked for the same few keys over and over
def position(name: str) -> int:
    """Where a key or a token lands on the ring (a stable hash, not Python's `hash`)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "big")


@attrs.frozen
class Ring:
    tokens: tuple[tuple[int, str], ...]  # (position, node), sorted by position

    @classmethod
    def build(cls, nodes: Sequence[str], vnodes: int) -> Ring:
        return cls(tuple(sorted((position(f"{node}#{i}"), node)
                                for node in nodes for i in range(vnodes))))

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(sorted({node for _, node in self.tokens}))

    def range_of(self, key: str) -> int:
        """The key range holding `key`: the index of the first token at or after its hash."""
        return bisect_left(self.tokens, (position(key), "")) % len(self.tokens)

    def walk(self, start: int) -> tuple[str, ...]:
        """Every physical node once, clockwise from token `start` (virtual nodes of a node
        already met are skipped, so that N replicas are N machines)."""
        order: list[str] = []
        for i in range(len(self.tokens)):
            node = self.tokens[(start + i) % len(self.tokens)][1]
            if node not in order:
                order.append(node)
        return tuple(order)

    def order_for(self, key: str) -> tuple[str, ...]:
        """The key's preference list first, then the stand-ins in the order they fill in."""
        return self.walk(self.range_of(key))

    def preference_list(self, key: str, n: int) -> tuple[str, ...]:
        return self.order_for(key)[:n]

    def ranges_of(self, node: str, n: int) -> list[int]:
        """The key ranges `node` replicates."""
        return [r for r in range(len(self.tokens)) if node in self.walk(r)[:n]]


# --- Merkle trees -----------------------------------------------------------------------------


def digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=4).hexdigest()


def leaf_of(key: str) -> int:
    return position(key) % LEAVES


def merkle_tree(entries: dict[str, tuple[Version, ...]]) -> list[list[str]]:
    """The hash tree of one key range: `tree[level][i]`, level 0 the root, level DEPTH the
    leaves. A leaf hashes the keys that fall in it with their versions; an inner node hashes
    its two children, so equal roots mean equal ranges. (Not to be modified: the tree of an
    empty range is shared.)"""
    return build_tree(entries) if entries else EMPTY_TREE


def build_tree(entries: dict[str, tuple[Version, ...]]) -> list[list[str]]:
    leaves = [digest(repr(sorted((k, v) for k, v in entries.items() if leaf_of(k) == i)))
              for i in range(LEAVES)]
    tree = [leaves]
    while len(tree[0]) > 1:
        below = tree[0]
        tree.insert(0, [digest(below[i] + below[i + 1]) for i in range(0, len(below), 2)])
    return tree


EMPTY_TREE = build_tree({})
