"""The X32 level and pan laws at the points Maillot's protocol document gives, and back."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surfaced.surfaces.x32_law import db_to_level, level_to_db, pan_to_surfaced, pan_to_x32

# (X32 float, dB): the law's breakpoints, the ends, and a point inside each segment
# computed from the document's formulas by hand.
DOCUMENTED = [
    (1.0, 10.0),
    (0.75, 0.0),
    (0.5, -10.0),
    (0.25, -30.0),
    (0.0625, -60.0),
    (0.875, 5.0),  # 0.875 * 40 - 30
    (0.375, -20.0),  # 0.375 * 80 - 50
    (0.125, -50.0),  # 0.125 * 160 - 70
    (0.03125, -75.0),  # 0.03125 * 480 - 90
]


@pytest.mark.parametrize(("level", "db"), DOCUMENTED)
def test_documented_points_both_ways(level: float, db: float) -> None:
    assert level_to_db(level) == pytest.approx(db, abs=1e-9)
    assert db_to_level(db) == pytest.approx(level, abs=1e-12)


def test_bottom_is_off_and_below_the_law_reads_as_off() -> None:
    assert level_to_db(0.0) == -math.inf
    assert db_to_level(-math.inf) == 0.0
    assert db_to_level(-90.0) == 0.0
    assert db_to_level(-120.0) == 0.0  # surfaced can hold it; the console cannot show it
    assert db_to_level(math.nan) == 0.0
    assert level_to_db(1e-6) == pytest.approx(-90.0, abs=1e-3)


@pytest.mark.parametrize("bad", [-0.01, 1.01, math.nan, math.inf, -math.inf])
def test_levels_outside_0_1_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match=r"0\.\.1"):
        level_to_db(bad)
    with pytest.raises(ValueError, match=r"0\.\.1"):
        pan_to_surfaced(bad)


@given(st.floats(min_value=0.0, max_value=1.0))
def test_round_trip_level(level: float) -> None:
    back = db_to_level(level_to_db(level))
    # Below ~2e-9 the dB value sits at -90 dB, which reads back as off (0.0).
    assert back == pytest.approx(level, abs=1e-9)


@given(st.floats(min_value=-89.99, max_value=10.0))
def test_round_trip_db(db: float) -> None:
    assert level_to_db(db_to_level(db)) == pytest.approx(db, abs=1e-9)


def test_law_is_monotonic() -> None:
    levels = [i / 1023 for i in range(1024)]
    dbs = [level_to_db(f) for f in levels]
    assert all(a < b for a, b in itertools.pairwise(dbs))


def test_pan_is_linear_with_centre_at_half() -> None:
    assert pan_to_surfaced(0.0) == -1.0
    assert pan_to_surfaced(0.5) == 0.0
    assert pan_to_surfaced(1.0) == 1.0
    assert pan_to_x32(-1.0) == 0.0 and pan_to_x32(0.0) == 0.5 and pan_to_x32(1.0) == 1.0
    assert pan_to_x32(pan_to_surfaced(0.3)) == pytest.approx(0.3)
