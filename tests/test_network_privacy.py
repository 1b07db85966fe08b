"""Small-count protection of what networks see: nothing below the threshold can be worked out.

For associations of 1 to 6 volunteers, a year of random months is protected and
every published figure is written as a linear equation over the true cells
(minutes per month and category). A hidden cell (fewer volunteers than the
threshold) can be worked out by subtraction exactly when its indicator vector
lies in the span of the published equations: the test checks, with exact
rational arithmetic, that it never does.
"""

import random
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from instance.network_privacy import OTHER, Cell, protect

CATEGORIES = ("accueil", "animation", "logistique", "bureau", OTHER)
THRESHOLD = 5


def _rank(rows: list[list[Fraction]]) -> int:
    """Rank of a matrix by Gaussian elimination over the rationals."""
    matrix = [row[:] for row in rows]
    rank, columns = 0, len(matrix[0]) if matrix else 0
    for column in range(columns):
        pivot = next((r for r in range(rank, len(matrix)) if matrix[r][column] != 0), None)
        if pivot is None:
            continue
        matrix[rank], matrix[pivot] = matrix[pivot], matrix[rank]
        for r in range(len(matrix)):
            if r != rank and matrix[r][column] != 0:
                factor = matrix[r][column] / matrix[rank][column]
                matrix[r] = [a - factor * b for a, b in zip(matrix[r], matrix[rank], strict=True)]
        rank += 1
    return rank


def _in_span(rows: list[list[Fraction]], vector: list[Fraction]) -> bool:
    return bool(rows) and _rank(rows) == _rank([*rows, vector])


def _random_year(randomly: random.Random, volunteers: int) -> list[list[Cell]]:
    months = []
    for _month in range(12):
        people: dict[str, set[int]] = {key: set() for key in CATEGORIES}
        minutes = dict.fromkeys(CATEGORIES, 0)
        for person in range(volunteers):
            # Skewed like real associations: most people welcome visitors, few do the books.
            for _action in range(randomly.randrange(0, 7)):
                key = randomly.choices(CATEGORIES, weights=(8, 5, 2, 1, 1))[0]
                people[key].add(person)
                minutes[key] += randomly.choice((30, 60, 90, 120, 240))
        months.append(
            [Cell(key, minutes[key], frozenset(people[key])) for key in CATEGORIES if people[key]]
        )
    return months


def _published_equations(
    year: list[list[Cell]], *, known_support: bool = False
) -> tuple[list[list[Fraction]], list[int]]:
    """The published figures as rows over the unknown cells, and the hidden cells.

    The network's reference categories are public, so every category of every
    month is an unknown; a report says which categories it shows, never which
    ones are inside "other". With ``known_support`` the reader is assumed to
    know, besides, which categories had any activity each month (the worst
    case): the unknowns are the active cells only, and "other" is the sum of
    the active categories not shown. Months reported as totals only are then
    left out of the hidden cells: their total is the association's, by design.
    """
    keys = [
        (month, key)
        for month, cells in enumerate(year)
        for key in CATEGORIES
        if not known_support or any(cell.key == key for cell in cells)
    ]
    index = {key: number for number, key in enumerate(keys)}

    def row(cells: list[tuple[int, str]]) -> list[Fraction]:
        vector = [Fraction(0)] * len(keys)
        for key in cells:
            vector[index[key]] = Fraction(1)
        return vector

    rows, hidden = [], []
    for month, cells in enumerate(year):
        published = protect(cells, THRESHOLD)
        active = [(month, key) for key in CATEGORIES if (month, key) in index]
        if not active:
            continue
        rows.append(row(active))  # the exact total
        assert published.total_minutes == sum(cell.minutes for cell in cells)
        if published.has_breakdown:
            for key, minutes in published.shown.items():
                rows.append(row([(month, key)]))
                assert minutes == next(c.minutes for c in cells if c.key == key)
            rows.append(row([(m, key) for m, key in active if key not in published.shown]))
            assert published.other_minutes + sum(published.shown.values()) == sum(
                cell.minutes for cell in cells
            )
        if published.has_breakdown or not known_support:
            hidden += [index[(month, c.key)] for c in cells if len(c.volunteers) < THRESHOLD]
    return rows, hidden


@pytest.mark.parametrize("known_support", [False, True], ids=["public", "worst-case"])
@pytest.mark.parametrize("volunteers", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("seed", range(8))
def test_no_small_cell_can_be_worked_out(volunteers: int, seed: int, known_support: bool) -> None:
    year = _random_year(random.Random(seed * 10 + volunteers), volunteers)
    rows, hidden = _published_equations(year, known_support=known_support)
    assert rows, "a year with no published figure tests nothing"
    for cell in hidden:
        unit = [Fraction(0)] * len(rows[0])
        unit[cell] = Fraction(1)
        assert not _in_span(rows, unit), f"cell {cell} can be worked out"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(CATEGORIES), st.integers(0, 600), st.sets(st.integers(0, 9))),
        max_size=6,
        unique_by=lambda cell: cell[0],
    )
)
def test_any_month_keeps_small_cells_hidden_and_totals_exact(cells: list) -> None:
    month = [Cell(key, minutes, frozenset(people)) for key, minutes, people in cells]
    published = protect(month, THRESHOLD)
    present = [c for c in month if c.minutes or c.volunteers]
    assert published.total_minutes == sum(c.minutes for c in present)
    everyone = set().union(*(c.volunteers for c in present)) if present else set()
    if len(everyone) < THRESHOLD:
        assert published.volunteers is None and not published.shown
        return
    assert published.volunteers == len(everyone)
    for key in published.shown:  # shown cells have enough people, never "other" itself
        assert key != OTHER
        assert len(next(c for c in month if c.key == key).volunteers) >= THRESHOLD
    merged = [c for c in present if c.key in published.merged]
    small = [c for c in merged if len(c.volunteers) < THRESHOLD]
    if small:  # "other" never stands for one small cell nor for too few people
        assert len(merged) >= 2
        assert len(set().union(*(c.volunteers for c in merged))) >= THRESHOLD


def test_threshold_examples() -> None:
    month = [
        Cell("accueil", 600, frozenset(range(6))),
        Cell("animation", 300, frozenset(range(5))),
        Cell("bureau", 120, frozenset({1, 2})),  # two volunteers: hidden
    ]
    published = protect(month, 5)
    # "bureau" alone in "other" would be its exact minutes: the smallest shown joins it.
    assert published.shown == {"accueil": 600}
    assert published.other_minutes == 420
    assert published.merged == {"animation", "bureau"}
    assert published.volunteers == 6
    few = protect([Cell("accueil", 90, frozenset({1, 2, 3}))], 5)
    assert few.volunteers is None and few.shown == {} and few.total_minutes == 90
    with pytest.raises(ValueError):
        protect(month, 0)
