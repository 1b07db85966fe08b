"""A year's volunteer time as "contributions volontaires en nature" (accounts 864 / 875)."""

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlmodel import Session

from instance.errors import Invalid
from instance.i18n import _
from instance.periods import Period
from instance.summaries import compute_summary
from instance.valuation import hours_text
from schema.tables import Association


@dataclass(frozen=True)
class AccountingRow:
    """One line of the "contributions volontaires en nature" view."""

    account: str
    account_label: str
    side: str
    category_id: int | None
    category: str
    minutes: int
    hours: str
    valued_cents: int


ACCOUNTS = {"debit": ("864", "Personnel bénévole"), "credit": ("875", "Bénévolat")}
#: A full-time job's hours in a year in France (Code du travail, art. L3121-27: 35 h a
#: week over the year, less leave and public holidays): the measure associations
#: use to state their volunteer time as full-time equivalents ("ETP bénévoles").
FULL_TIME_YEAR_HOURS = 1607


def full_time_equivalent(minutes: int) -> str:
    """A year's minutes as full-time equivalents, two decimals ("0.62")."""
    ratio = Decimal(minutes) / Decimal(FULL_TIME_YEAR_HOURS * 60)
    return str(ratio.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def accounting_rows(
    session: Session, *, association: Association, year: int
) -> list[AccountingRow]:
    """A year's volunteer time by category as accounts 864 (debit) and 875 (credit)."""
    if not 2000 <= year <= 9999:
        raise Invalid({"year": _("Enter a year like 2024.")})
    period = Period(date(year, 1, 1), date(year, 12, 31))
    summary = compute_summary(session, association=association, period=period, group_by="category")
    rows = []
    for side, (account, label) in ACCOUNTS.items():
        for group in summary.groups:
            rows.append(
                AccountingRow(
                    account=account,
                    account_label=label,
                    side=side,
                    category_id=group.key if isinstance(group.key, int) else None,
                    category=group.label,
                    minutes=group.figures.minutes,
                    hours=hours_text(group.figures.minutes),
                    valued_cents=group.figures.valued_cents or 0,
                )
            )
    return rows
