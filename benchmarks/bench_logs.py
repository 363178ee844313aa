"""Time the Kafka-style log checker: `python benchmarks/bench_logs.py [--records N]`.

The history comes from a correct single-copy log per key: producers append unique values and
are acknowledged with their offsets, consumers poll a few records at a time from where they
left off. A record counts once per time it appears (each ack and each poll that returns it). The
"lost" variant
removes one acknowledged value from every poll.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.results import markdown_table, write_section
from invariants.history import OK, Operation
from invariants.logs import check_log


def log_history(records: int, *, keys: int = 10, producers: int = 5, consumers: int = 4,
                seed: int = 0) -> list[Operation]:
    rng = random.Random(seed)
    logs: dict[str, list[int]] = {f"k{i}": [] for i in range(keys)}
    position: dict[tuple[str, str], int] = {}
    ops: list[Operation] = []
    count, value = 0, 0

    def add(process: str, f: str, args: list, result: list) -> None:
        i = len(ops)
        ops.append(Operation(i, process, f, args, result, OK, 2 * i, 2 * i + 1))

    while count < records:
        if rng.random() < 0.4:
            key = rng.choice(list(logs))
            value += 1
            add(f"p{rng.randrange(producers)}", "send", [["send", key, value]],
                [["send", key, [len(logs[key]), value]]])
            logs[key].append(value)
            count += 1
        else:
            consumer, reads = f"c{rng.randrange(consumers)}", {}
            for key in rng.sample(list(logs), 3):
                start = position.get((consumer, key), 0)
                end = min(len(logs[key]), start + rng.randint(1, 6))
                if end > start:
                    reads[key] = [[o, logs[key][o]] for o in range(start, end)]
                    count += end - start
                position[(consumer, key)] = end
            add(consumer, "poll", [["poll"]], [["poll", reads]])
    return ops


def lose_one(ops: list[Operation]) -> list[Operation]:
    victim = next(op for op in ops[len(ops) // 2:] if op.f == "send")
    key, value = victim.args[0][1], victim.args[0][2]
    out = []
    for op in ops:
        if op.f == "poll" and key in op.result[0][1]:
            reads = dict(op.result[0][1])
            reads[key] = [p for p in reads[key] if p[1] != value]
            op = Operation(op.id, op.process, op.f, op.args, [["poll", reads]], op.status,
                           op.call, op.ret)
        out.append(op)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    rows = []
    clean = log_history(args.records)
    for name, ops in (("clean", clean), ("lost", lose_one(clean))):
        start = time.perf_counter()
        verdict = check_log(ops)
        elapsed = time.perf_counter() - start
        print(f"{name}: {len(ops)} ops, {verdict.status} in {elapsed:.2f}s")
        rows.append([name, f"{args.records:,}", f"{len(ops):,}", verdict.status,
                     f"{elapsed:.2f}s"])
    write_section("Log checker", f"python benchmarks/bench_logs.py --records {args.records}",
                  markdown_table(["history", "records", "ops", "verdict", "check time"],
                                 rows))


if __name__ == "__main__":
    main()
