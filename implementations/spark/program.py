"""The user's side: the input files and the driver program, page views per page with the
page's title.

The program is written against an interface both `rdd.SparkContext` (which builds lineage
for the cluster) and `models.spark.SequentialContext` (which evaluates it at once, in one
process) provide, as a Spark program runs the same on a cluster or in local mode.
"""

from __future__ import annotations

from typing import Any

# the input, in the store from the start: two files of two parts (partitions) each
INPUT: dict[str, tuple[tuple[Any, ...], ...]] = {
    "views": (  # (page, user)
        (("home", "ann"), ("docs", "bob"), ("faq", "bot"), ("blog", "cy"), ("shop", "ann"),
         ("about", "cy")),
        (("faq", "ann"), ("blog", "bob"), ("home", "cy"), ("about", "bot"), ("docs", "cy"),
         ("shop", "bob")),
    ),
    "pages": (  # "page|title" lines
        ("home|Home", "docs|Docs", "blog|Blog"),
        ("faq|FAQ", "shop|Shop", "about|About", "news|News"),
    ),
}
PARTITIONS = 2  # of every shuffle's output


def human(view: tuple[str, str]) -> bool:
    return view[1] != "bot"


def page_hit(view: tuple[str, str]) -> tuple[str, int]:
    return view[0], 1


def add(a: int, b: int) -> int:
    return a + b


def parse_title(line: str) -> tuple[str, str]:
    page, title = line.split("|")
    return page, title


def page_views(sc: Any, checkpoint: bool) -> Any:
    """views per page, spread evenly over the partitions by a `repartition` (to even out
    skew, say), joined with the page titles. With `checkpoint`, the counts are saved to the
    store first, and everything after reads them from there."""
    hits = sc.text_file("views", 2).filter(human).map(page_hit).named("hits")
    counts = hits.reduce_by_key(add, PARTITIONS).named("counts")
    if checkpoint:
        counts = counts.mark_checkpoint()
    spread = counts.repartition(PARTITIONS).named("spread")
    titles = sc.text_file("pages", 2).map(parse_title).named("titles").cache()
    return spread.join(titles, PARTITIONS).named("joined")
