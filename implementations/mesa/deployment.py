"""Who is where, and the operator's settings: every node and every check reads the same."""

from __future__ import annotations

import attrs


@attrs.frozen
class Deployment:
    """One Mesa deployment: the versions database's Paxos replicas, the Mesa instances (one
    per datacenter), the committer, and the settings the paper leaves to the operator."""

    vdb: tuple[str, ...]
    instances: tuple[str, ...]
    committer: str
    quorum: int  # instances that must have loaded a version before it is committed
    window: int  # the last `window` committed versions before the latest stay queryable
    aggregate: str  # the value column's aggregation function: "sum" or "max"
