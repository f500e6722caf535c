"""The time budget's decisions from measured times alone (a fake clock: the times are made up)."""

from __future__ import annotations

import pytest

from saltseg.training.budget import Budget
from saltseg.training.schedule import BUDGET_FINAL_FRACTION


def test_without_a_budget_nothing_is_ever_spent_or_cut() -> None:
    budget = Budget(None, cap=50)
    assert not budget.spent(1e9, [10.0] * 5)
    assert not budget.must_cut(1e9, 100.0, 3, 10, [10.0] * 5, 2.0)
    assert budget.planned_epochs(1e9, [10.0]) == 50


def test_the_epoch_time_is_the_median_after_the_warm_up_epoch() -> None:
    assert Budget.epoch_seconds([]) is None
    assert Budget.epoch_seconds([30.0]) == 30.0
    assert Budget.epoch_seconds([30.0, 10.0, 50.0, 12.0]) == 12.0  # 30 (warm-up) left out; 50 an outlier


def test_the_run_ends_when_less_than_a_fifth_of_an_epoch_is_left() -> None:
    budget = Budget(100.0, cap=1000)
    assert not budget.spent(0.0, [])  # nothing measured yet: the first epoch always runs
    assert not budget.spent(97.0, [10.0, 10.0])  # 3 s left >= 0.2 epoch
    assert budget.spent(98.5, [10.0, 10.0])


def test_planned_epochs_follow_the_measured_time_and_the_cap() -> None:
    assert Budget(100.0, cap=1000).planned_epochs(20.0, [10.0, 10.0]) == pytest.approx(10.0)
    assert Budget(100.0, cap=5).planned_epochs(20.0, [10.0, 10.0]) == 5
    reserved = Budget(100.0, cap=1000, reserve_epochs=0.5)  # half an epoch kept for the average
    assert reserved.planned_epochs(20.0, [10.0, 10.0]) == pytest.approx(9.5)


def test_an_epoch_is_cut_before_its_validation_would_overrun() -> None:
    budget = Budget(100.0, cap=1000)
    times = [10.0, 10.0]
    # 80 s before the epoch, 9 s into it over 9 steps: one more step (1 s) and validation (2 s) fit...
    assert not budget.must_cut(80.0, 9.0, 9, 6, times, last_validation=2.0)
    # ...but not when validation took 12 s last time
    assert budget.must_cut(80.0, 9.0, 9, 6, times, last_validation=12.0)
    # before any validation it is estimated as a third of a step per validation batch: 40 batches, 13 s
    assert budget.must_cut(80.0, 9.0, 9, 40, times, last_validation=None)
    assert not budget.must_cut(80.0, 9.0, 9, 20, times, last_validation=None)


def test_the_rate_warms_up_then_decays_to_its_floor_and_never_rises_again() -> None:
    budget = Budget(100.0, cap=1000)
    assert budget.learning_rate(1e-3, 0.0, 0.0, [], current=1e-3) == pytest.approx(1e-4)
    times = [10.0] * 4
    mid = budget.learning_rate(1e-3, 5.0, 40.0, times, current=1e-3)
    assert 0.3e-3 < mid < 0.7e-3
    assert budget.learning_rate(1e-3, 5.0, 40.0, times, current=1e-4) == 1e-4  # never raised again
    end = budget.learning_rate(1e-3, 10.0, 90.0, [10.0] * 9, current=1e-3)
    assert end == pytest.approx(1e-3 * BUDGET_FINAL_FRACTION)
