"""Dremel: striping and assembly throughput, ours beside pyarrow's, on the same records.

    python benchmarks/bench_dremel.py [--records 20000] [--repeat 3]

The records are random Documents of the paper's schema (DocId, Links.Backward/Forward,
Name.Language.Code/Country, Name.Url). Each side is timed end to end from Python records:

- ours: `Striper.stripe` (records to (value, r, d) columns), `Assembler.assemble` of all
  columns and of two (DocId, Name.Language.Country: partial assembly);
- pyarrow: `Table.from_pylist` and `parquet.write_table` uncompressed to memory (the writer
  computes the same repetition and definition levels), then `ParquetFile.read` on one
  thread and `to_pylist`, of all columns and of the same two (which gives the same
  projected records as our partial assembly: checked before timing).

The best of `--repeat` runs, in records per second; the section "Dremel: striping and
assembly" of RESULTS.md.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.results import markdown_table, write_section
from implementations.dremel.assembly import Assembler
from implementations.dremel.striping import Striper

DOCUMENT = [
    {"name": "DocId", "repetition": "required", "type": "int64"},
    {"name": "Links", "repetition": "optional", "fields": [
        {"name": "Backward", "repetition": "repeated", "type": "int64"},
        {"name": "Forward", "repetition": "repeated", "type": "int64"}]},
    {"name": "Name", "repetition": "repeated", "fields": [
        {"name": "Language", "repetition": "repeated", "fields": [
            {"name": "Code", "repetition": "required", "type": "string"},
            {"name": "Country", "repetition": "optional", "type": "string"}]},
        {"name": "Url", "repetition": "optional", "type": "string"}]},
]
PARTIAL = ["DocId", "Name.Language.Country"]
PARQUET_PARTIAL = ["DocId", "Name.list.element.Language.list.element.Country"]
ARROW_SCHEMA = pa.schema([
    pa.field("DocId", pa.int64(), nullable=False),
    pa.field("Links", pa.struct([
        pa.field("Backward", pa.list_(pa.field("element", pa.int64(), nullable=False)),
                 nullable=False),
        pa.field("Forward", pa.list_(pa.field("element", pa.int64(), nullable=False)),
                 nullable=False)])),
    pa.field("Name", pa.list_(pa.field("element", pa.struct([
        pa.field("Language", pa.list_(pa.field("element", pa.struct([
            pa.field("Code", pa.string(), nullable=False),
            pa.field("Country", pa.string())]), nullable=False)), nullable=False),
        pa.field("Url", pa.string())]), nullable=False)), nullable=False),
])


def documents(count: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)

    def links() -> dict | None:
        if rng.random() < 0.2:
            return None
        return {"Backward": [rng.randrange(10**6) for _ in range(rng.randrange(4))],
                "Forward": [rng.randrange(10**6) for _ in range(rng.randrange(4))]}

    def name() -> dict:
        languages = [{"Code": rng.choice(["en", "en-us", "en-gb", "de", "fr"]),
                      "Country": rng.choice([None, "us", "gb", "de"])}
                     for _ in range(rng.randrange(3))]
        return {"Language": languages,
                "Url": None if rng.random() < 0.3 else f"http://{rng.randrange(10**4)}"}

    return [{"DocId": i, "Links": links(), "Name": [name() for _ in range(rng.randrange(4))]}
            for i in range(count)]


def best(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def parquet_bytes(records: list[dict]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(records, schema=ARROW_SCHEMA), sink,
                   compression="NONE", row_group_size=len(records))
    return sink.getvalue()


def read_parquet(data: bytes, columns: list[str] | None = None) -> list[dict]:
    """The records, or (given Parquet column paths) the records projected on those columns,
    read on one thread as ours are."""
    return pq.ParquetFile(io.BytesIO(data)).read(columns=columns, use_threads=False).to_pylist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    records = documents(args.records)
    columns = Striper().stripe(DOCUMENT, records)
    assert Assembler().assemble(DOCUMENT, columns) == records
    data = parquet_bytes(records)
    assert read_parquet(data) == records
    assert read_parquet(data, PARQUET_PARTIAL) == \
        Assembler().assemble(DOCUMENT, columns, PARTIAL)
    entries = sum(len(column) for column in columns.values())
    timings = [
        ("stripe", lambda: Striper().stripe(DOCUMENT, records),
         lambda: parquet_bytes(records)),
        ("assemble all columns", lambda: Assembler().assemble(DOCUMENT, columns),
         lambda: read_parquet(data)),
        ("assemble DocId, Name.Language.Country",
         lambda: Assembler().assemble(DOCUMENT, columns, PARTIAL),
         lambda: read_parquet(data, PARQUET_PARTIAL)),
    ]
    rows = []
    for label, ours, theirs in timings:
        mine, pyarrow = best(ours, args.repeat), best(theirs, args.repeat)
        rows.append([label, f"{args.records / mine:,.0f}", f"{args.records / pyarrow:,.0f}",
                     f"{mine / pyarrow:.0f}x"])
        print(*rows[-1], sep="\t", flush=True)
    note = (f"\n\n{args.records:,} random Documents of the paper's schema, {entries:,} column "
            f"entries; best of {args.repeat}. pyarrow {pa.__version__}: `Table.from_pylist` + "
            f"uncompressed `write_table` to memory; `ParquetFile.read` on one thread + "
            f"`to_pylist`, of all columns or of the two.")
    write_section("Dremel: striping and assembly",
                  f"python benchmarks/bench_dremel.py --records {args.records} "
                  f"--repeat {args.repeat}",
                  markdown_table(["operation", "ours (records/s)", "pyarrow (records/s)",
                                  "pyarrow is faster by"], rows) + note)


if __name__ == "__main__":
    main()
