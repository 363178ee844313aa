"""ZooKeeper's data tree as a sequential specification.

The tree is what every ZooKeeper server holds and what the transactions Zab delivers change,
one at a time, in zxid order (Hunt, Konar, Junqueira, Reed, "ZooKeeper: Wait-free coordination
for Internet-scale systems", USENIX ATC 2010, section 2). Each znode has data and a `Stat`:

- `czxid` / `mzxid`: the zxid of the transaction that created / last changed it;
- `version`: how many times its data changed (conditional `setData` and `delete` name it);
- `cversion`: how many times its children changed; a sequential child is named after it,
  so sequential names under one parent are unique and increase;
- `ephemeral_owner`: the session that owns an ephemeral znode (None: persistent). Closing the
  session, by the client or by expiry, deletes its ephemerals; an ephemeral cannot have
  children, and a closed session cannot create one.

Sessions are part of the tree: `CreateSession` opens one named by its transaction's zxid, and
every write of a session names its request number: a request older than one already applied
is refused, so a session's writes take effect in the order it sent them.

`DataTree` is the mutable tree the servers keep; `ZnodeTree` wraps it as a pure
`SequentialModel` for the checkers (states are frozen snapshots).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import attrs

from models.sequential import SequentialModel

ROOT = "/"


@attrs.frozen
class Stat:
    czxid: int
    mzxid: int
    version: int = 0
    cversion: int = 0
    ephemeral_owner: int | None = None


@attrs.frozen
class Znode:
    data: Any
    stat: Stat


@attrs.frozen
class Err:
    """A write that was refused, with ZooKeeper's error name."""

    code: str  # node-exists | no-node | bad-version | not-empty | no-children-for-ephemerals |
    #            session-expired | stale-request


# --- the write operations, as transactions carry them (short reprs: they fill traces) ---------


@attrs.frozen(repr=False)
class CreateSession:
    owner: str  # the client asking, and its attempt: two attempts make two sessions
    attempt: int

    def __repr__(self) -> str:
        return f"createSession({self.owner}#{self.attempt})"


@attrs.frozen(repr=False)
class CloseSession:
    session: int

    def __repr__(self) -> str:
        return f"closeSession({self.session:#x})"


@attrs.frozen(repr=False)
class Create:
    path: str
    data: Any = None
    ephemeral: bool = False
    sequential: bool = False

    def __repr__(self) -> str:
        mode = "-".join(m for m, on in (("ephemeral", self.ephemeral),
                                         ("sequential", self.sequential)) if on)
        return f"create({self.path!r}, {self.data!r}{', ' + mode if mode else ''})"


@attrs.frozen(repr=False)
class Delete:
    path: str
    version: int = -1  # -1: any version

    def __repr__(self) -> str:
        return f"delete({self.path!r}, v{self.version})"


@attrs.frozen(repr=False)
class SetData:
    path: str
    data: Any
    version: int = -1  # -1: any version; otherwise the write is conditional

    def __repr__(self) -> str:
        return f"setData({self.path!r}, {self.data!r}, v{self.version})"


def parent_of(path: str) -> str:
    head = path.rsplit("/", 1)[0]
    return head or ROOT


def name_of(path: str) -> str:
    return path.rsplit("/", 1)[1]


def sequence_number(path: str) -> int:
    """The counter ZooKeeper appended to a sequential node's name (ten digits)."""
    return int(path[-10:])


class DataTree:
    """The tree and the session table, changed only by `apply`, in zxid order."""

    def __init__(self, initial: tuple[tuple[str, Any], ...] = ()) -> None:
        self.nodes: dict[str, Znode] = {ROOT: Znode(None, Stat(0, 0))}
        self.sessions: dict[int, int] = {}  # live session -> its last request applied
        for path, data in initial:  # the initial tree, there before any transaction
            self.nodes[path] = Znode(data, Stat(0, 0))

    # --- reads --------------------------------------------------------------------------------

    def get(self, path: str) -> Znode | None:
        return self.nodes.get(path)

    def children(self, path: str) -> list[str]:
        """Names of the children of `path`, sorted."""
        return sorted(name_of(p) for p in self.nodes if p != ROOT and parent_of(p) == path)

    def ephemerals(self, session: int) -> list[str]:
        return sorted(p for p, node in self.nodes.items() if node.stat.ephemeral_owner == session)

    # --- writes -------------------------------------------------------------------------------

    def apply(self, zxid: int, session: int | None, req: int,
              op: Any) -> tuple[Any, list[tuple[str, str]]]:
        """Apply one transaction: (result, watch events). An event is (path, kind), kind one of
        created, deleted, changed (the node itself) or child (its children changed)."""
        if isinstance(op, CreateSession):
            self.sessions[zxid] = 0
            return zxid, []
        if isinstance(op, CloseSession):
            return None, self._close(op.session)
        refused = self._check_session(session, req)
        if refused:
            return refused, []
        match op:
            case Create():
                return self._create(zxid, session, op)
            case Delete(path, version):
                return self._delete(path, version)
            case SetData(path, data, version):
                return self._set(zxid, path, data, version)
        raise ValueError(f"not a write: {op!r}")

    def _check_session(self, session: int | None, req: int) -> Err | None:
        if session not in self.sessions:
            return Err("session-expired")
        if req <= self.sessions[session]:
            return Err("stale-request")  # overtaken by a later request of its session
        self.sessions[session] = req
        return None

    def _create(self, zxid: int, session: int | None,
                op: Create) -> tuple[Any, list[tuple[str, str]]]:
        parent = self.nodes.get(parent_of(op.path))
        if parent is None:
            return Err("no-node"), []
        if parent.stat.ephemeral_owner is not None:
            return Err("no-children-for-ephemerals"), []
        path = op.path + f"{parent.stat.cversion:010d}" if op.sequential else op.path
        if path in self.nodes:
            return Err("node-exists"), []
        owner = session if op.ephemeral else None
        self.nodes[path] = Znode(op.data, Stat(zxid, zxid, ephemeral_owner=owner))
        self._children_changed(parent_of(path))
        return path, [(path, "created"), (parent_of(path), "child")]

    def _delete(self, path: str, version: int) -> tuple[Any, list[tuple[str, str]]]:
        node = self.nodes.get(path)
        if node is None:
            return Err("no-node"), []
        if version not in (-1, node.stat.version):
            return Err("bad-version"), []
        if self.children(path):
            return Err("not-empty"), []
        return None, self._remove(path)

    def _set(self, zxid: int, path: str, data: Any,
             version: int) -> tuple[Any, list[tuple[str, str]]]:
        node = self.nodes.get(path)
        if node is None:
            return Err("no-node"), []
        if version not in (-1, node.stat.version):
            return Err("bad-version"), []
        stat = attrs.evolve(node.stat, mzxid=zxid, version=node.stat.version + 1)
        self.nodes[path] = Znode(data, stat)
        return stat.version, [(path, "changed")]

    def _close(self, session: int) -> list[tuple[str, str]]:
        if self.sessions.pop(session, None) is None:
            return []
        events = []
        for path in self.ephemerals(session):
            events += self._remove(path)
        return events

    def _remove(self, path: str) -> list[tuple[str, str]]:
        del self.nodes[path]
        self._children_changed(parent_of(path))
        return [(path, "deleted"), (parent_of(path), "child")]

    def _children_changed(self, parent: str) -> None:
        node = self.nodes[parent]
        self.nodes[parent] = Znode(node.data,
                                   attrs.evolve(node.stat, cversion=node.stat.cversion + 1))

    # --- snapshots, for the pure model --------------------------------------------------------

    def freeze(self) -> tuple:
        return tuple(sorted(self.nodes.items())), tuple(sorted(self.sessions.items()))

    @classmethod
    def thaw(cls, frozen: tuple) -> DataTree:
        tree = cls()
        nodes, sessions = frozen
        tree.nodes, tree.sessions = dict(nodes), dict(sessions)
        return tree


class ZnodeTree(SequentialModel):
    """The tree as a pure sequential spec. State: (frozen tree, last zxid).

    f = "write" with args (session, req, op) applies a transaction with the next zxid;
    f = "get" with args (path,) -> (data, version) or None; f = "children" -> sorted names.
    """

    name = "znode-tree"

    def __init__(self, initial: tuple[tuple[str, Any], ...] = ()) -> None:
        self.initial_nodes = initial

    def initial(self) -> Hashable:
        return DataTree(self.initial_nodes).freeze(), 0

    def apply(self, state: Hashable, f: str, args: Any) -> list[tuple[Any, Hashable]]:
        frozen, zxid = state
        tree = DataTree.thaw(frozen)
        if f == "get":
            node = tree.get(args[0])
            return [(None if node is None else (node.data, node.stat.version), state)]
        if f == "children":
            return [(tree.children(args[0]), state)]
        if f == "write":
            result, _ = tree.apply(zxid + 1, *args)
            return [(result, (tree.freeze(), zxid + 1))]
        return []

    def describe_state(self, state: Hashable) -> str:
        (nodes, sessions), zxid = state
        shown = ", ".join(f"{path}={node.data!r}" for path, node in nodes if path != ROOT)
        return f"zxid {zxid}: {{{shown}}}, sessions {[s for s, _ in sessions]}"
