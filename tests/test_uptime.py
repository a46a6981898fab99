"""Uptime accounting (ioc.uptime) on a fake grid: no store, no wall time."""

from __future__ import annotations

import numpy as np
import pytest

from ioc.uptime import EntityHistory, Grid, account, carry_forward, coverage, offline_intervals, pct

GRID = Grid(0.0, 60.0, 60)  # one hour of minutes
END = GRID.end


def history(ref: str = "link/a", **kw) -> EntityHistory:
    kw.setdefault("heartbeat_s", 30.0)
    kw.setdefault("known_from", 0.0)
    kw.setdefault("up_mean", np.full(GRID.n, np.nan))
    kw.setdefault("heard", np.ones(GRID.n, dtype=bool))
    return EntityHistory(ref=ref, **kw)


def test_coverage_of_overlapping_intervals():
    got = coverage([(30.0, 90.0), (60.0, 120.0)], Grid(0.0, 60.0, 3))
    assert got.tolist() == [0.5, 1.0, 0.0]


def test_carry_forward_holds_a_value_up_to_the_limit():
    values = np.array([1.0, np.nan, np.nan, 0.0, np.nan, np.nan, np.nan])
    assert np.array_equal(carry_forward(values, 2), [1, 1, 1, 0, 0, 0, np.nan], equal_nan=True)


def test_offline_until_online():
    assert offline_intervals([(10.0, "offline"), (20.0, "offline"), (50.0, "online"), (70.0, "offline")], 100.0) == [
        (10.0, 50.0),
        (70.0, 100.0),
    ]


def test_up_zero_for_ten_minutes_is_ten_minutes_down():
    up = np.ones(GRID.n)
    up[20:30] = 0.0
    acc = account({"link/a": history(up_mean=up)}, GRID, END)["link/a"]
    assert acc.totals()["down_s"] == 600.0
    assert acc.uptime_pct() == pytest.approx(100 * 50 / 60, abs=1e-3)


def test_silence_is_down_after_the_heartbeat():
    heard = np.ones(GRID.n, dtype=bool)
    heard[10:20] = False  # silent from 10:00 to 20:00; down from 10:30
    acc = account({"kiosk/k": history("kiosk/k", heard=heard)}, GRID, END)["kiosk/k"]
    assert acc.totals()["down_s"] == pytest.approx(600 - 30)


def test_maintenance_counts_as_neither_and_before_first_data_is_unknown():
    up = np.ones(GRID.n)
    up[40:50] = 0.0
    h = history(up_mean=up, maintenance=[(40 * 60.0, 50 * 60.0)], known_from=30 * 60.0)
    totals = account({"link/a": h}, GRID, END)["link/a"].totals()
    assert totals == {"known_s": 1800.0, "maintenance_s": 600.0, "down_s": 0.0, "unreachable_s": 0.0}
    assert pct(totals) == 100.0


def test_a_dependent_down_while_its_root_is_down_is_unreachable():
    link_up = np.ones(GRID.n)
    link_up[0:30] = 0.0
    kiosk_heard = np.ones(GRID.n, dtype=bool)
    kiosk_heard[0:40] = False  # silent for ten minutes more than the link was down
    accounts = account(
        {
            "link/a": history(up_mean=link_up),
            "kiosk/k": history("kiosk/k", heard=kiosk_heard, depends_on=("link/a",), known_from=-60.0),
        },
        GRID,
        END,
    )
    kiosk = accounts["kiosk/k"].totals()
    assert kiosk["unreachable_s"] == pytest.approx(1800 - 30)  # charged to the link
    assert kiosk["down_s"] == pytest.approx(600)  # its own ten minutes
    assert accounts["link/a"].totals()["down_s"] == 1800


def test_all_entities_at_once_equal_one_by_one():
    from ioc.uptime import _own, own_all

    rng = np.random.default_rng(7)
    grid = Grid(1000.0, 60.0, 90)
    end = grid.start + 60.0 * 85.5
    histories = []
    for i in range(40):
        heard = rng.random(grid.n) < rng.choice([0.2, 0.7, 1.0])
        up = np.where(heard & (rng.random(grid.n) < 0.8), rng.choice([0.0, 0.5, 1.0], grid.n), np.nan)
        changes = [(grid.start + 600.0, "offline"), (grid.start + 1900.0, "online")] if i % 5 == 0 else ()
        windows = [(grid.start + 3000.0, grid.start + 3300.0)] if i % 7 == 0 else ()
        known = [None, grid.start - 500.0, grid.start + 1234.0, grid.start][i % 4]
        histories.append(EntityHistory(f"kiosk/{i}", [30.0, 180.0, 300.0][i % 3], known, up, heard, changes, windows))
    known, maint, down = own_all(histories, grid, end)
    for i, h in enumerate(histories):
        k, m, d = _own(h, grid, end)
        assert np.array_equal(known[i], k) and np.array_equal(maint[i], m), i
        assert np.allclose(down[i], d, rtol=0, atol=1e-12), i
