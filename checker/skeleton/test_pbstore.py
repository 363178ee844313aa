import pbstore
from hypothesis import given, settings

from checker.hypothesis_adapter import runs


def test_the_store_survives_its_hunt(assert_hunt):
    assert_hunt(pbstore.SYSTEM, "correct", runs=300)


def test_the_eager_backup_is_caught(assert_hunt):
    outcome = assert_hunt(pbstore.SYSTEM, "eager-backup", runs=2000)
    assert outcome.violation.verdict.invariant == "acked-on-both-disks"


@settings(max_examples=50, deadline=None)
@given(runs(pbstore.SYSTEM))
def test_runs_keep_every_promise(run):
    assert not run.violated, run.verdict.explanation
