"""A person's hours everywhere: local associations and the summaries other instances sent.

Local figures come from ``summaries.person_hours`` (counted minutes by month);
remote ones from ``ReceivedSummary`` rows (tombstones never shown nor counted).
Both are cut to an inclusive range of months and joined into one structure: one
line per association, with its instance, its proof status and its last update.
"""

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any

from babel.dates import format_date
from sqlmodel import Session, col, func, select

from instance import summaries
from instance.errors import Invalid
from instance.export_formats import Column, Document
from instance.i18n import N_, _, current_language
from schema.tables import Action, Membership, ReceivedSummary, User

MONTH = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")
VERIFIED = "verified"
LOCAL = "local"


@dataclass(frozen=True)
class MonthRange:
    """An inclusive range of months ('YYYY-MM'); None leaves that end open."""

    first: str | None = None
    last: str | None = None

    def holds(self, month: str) -> bool:
        """True when the month is inside the range."""
        return (self.first is None or month >= self.first) and (
            self.last is None or month <= self.last
        )


def read_month(value: str | None, name: str) -> str | None:
    """A 'YYYY-MM' month from a query parameter (None when empty); raise Invalid."""
    if value is None or value == "":
        return None
    match = MONTH.match(value) if len(value) == 7 else None
    if match is None or not 2000 <= int(match.group(1)) <= 9999:
        raise Invalid({name: _("Enter a month like 2024-05.")})
    return value


def read_month_range(start: str | None, end: str | None) -> MonthRange:
    """The range of ?from=YYYY-MM&to=YYYY-MM; raise Invalid when a month is wrong."""
    first, last = read_month(start, "from"), read_month(end, "to")
    if first is not None and last is not None and first > last:
        raise Invalid({"to": _("The last month comes before the first one.")})
    return MonthRange(first, last)


@dataclass(frozen=True)
class HoursLine:
    """A person's minutes in one association, here or on another instance."""

    name: str
    instance: str
    remote: bool
    minutes: int
    months: list[tuple[str, int]]
    proof: str  # "verified", "local" (stated by this instance) or why it is not verified
    updated: datetime | None
    slug: str = ""  # local associations
    issuer_uri: str = ""  # remote associations: their actor


@dataclass(frozen=True)
class CombinedHours:
    """Every association of a person over a range of months, and the totals."""

    lines: list[HoursLine]
    months: MonthRange
    by_month: list[tuple[str, int]] = field(default_factory=list)

    @property
    def total_minutes(self) -> int:
        """The minutes of every association."""
        return sum(line.minutes for line in self.lines)


def _local_updates(session: Session, user: User) -> dict[int, datetime]:
    """The last change of the person's actions, by association."""
    query = (
        select(Action.association_id, func.max(Action.updated_at))
        .join(Membership, col(Membership.id) == col(Action.membership_id))
        .where(Membership.user_id == user.id)
        .group_by(Action.association_id)
    )
    return {association_id: moment for association_id, moment in session.exec(query)}


def local_lines(
    session: Session, *, user: User, domain: str, months: MonthRange
) -> list[HoursLine]:
    """The person's associations on this instance, cut to the range."""
    updates = _local_updates(session, user)
    found = []
    for item in summaries.person_hours(session, user=user):
        kept = [(month, minutes) for month, minutes in item.months if months.holds(month)]
        found.append(
            HoursLine(
                name=item.association.name,
                instance=domain,
                remote=False,
                minutes=sum(minutes for _month, minutes in kept),
                months=kept,
                proof=LOCAL,
                updated=updates.get(item.association.id or 0),
                slug=item.association.slug,
            )
        )
    return found


def received_summaries(
    session: Session, *, user: User, months: MonthRange
) -> list[ReceivedSummary]:
    """The summaries other instances sent about the person (no tombstones), by month."""
    query = select(ReceivedSummary).where(
        ReceivedSummary.user_id == user.id, col(ReceivedSummary.deleted).is_(False)
    )
    if months.first is not None:
        query = query.where(ReceivedSummary.month >= months.first)
    if months.last is not None:
        query = query.where(ReceivedSummary.month <= months.last)
    order = (ReceivedSummary.issuer_uri, ReceivedSummary.month, ReceivedSummary.id)
    return list(session.exec(query.order_by(*order)))


def _proof_of(rows: list[ReceivedSummary]) -> str:
    """'verified' when every month's proof is; else the first reason found."""
    for row in rows:
        if row.proof_status != VERIFIED:
            return row.proof_status or _("No proof")
    return VERIFIED


def remote_lines(rows: list[ReceivedSummary]) -> list[HoursLine]:
    """One line per issuing association of the received summaries."""
    grouped: dict[str, list[ReceivedSummary]] = defaultdict(list)
    for row in rows:
        grouped[row.issuer_uri].append(row)
    found = []
    for issuer, items in grouped.items():
        newest = max(items, key=lambda row: row.updated)
        by_month = sorted((row.month, row.minutes) for row in items if row.minutes)
        found.append(
            HoursLine(
                name=newest.issuer_name or issuer,
                instance=newest.issuer_host,
                remote=True,
                minutes=sum(minutes for _month, minutes in by_month),
                months=by_month,
                proof=_proof_of(items),
                updated=newest.updated,
                issuer_uri=issuer,
            )
        )
    return found


def combined_hours(
    session: Session, *, user: User, domain: str, months: MonthRange | None = None
) -> CombinedHours:
    """Local and remote associations of the person over a range of months, by name."""
    months = months or MonthRange()
    lines = local_lines(session, user=user, domain=domain, months=months)
    lines += remote_lines(received_summaries(session, user=user, months=months))
    lines.sort(key=lambda line: (line.name.lower(), line.instance, line.remote))
    totals: dict[str, int] = defaultdict(int)
    for line in lines:
        for month, minutes in line.months:
            totals[month] += minutes
    return CombinedHours(lines=lines, months=months, by_month=sorted(totals.items()))


def proof_text(line: HoursLine) -> str:
    """The proof status in plain words."""
    if line.proof == LOCAL:
        return _("Recorded on this instance")
    if line.proof == VERIFIED:
        return _("Verified")
    return _("Not verified: {reason}").format(reason=line.proof)


def month_label(month: str, *, short: bool = False) -> str:
    """A month for people: 'May 2024' or 'mai 2024'; short: 'Feb 2024' or 'févr. 2024'."""
    year, number = (int(part) for part in month.split("-"))
    pattern = "LLL y" if short else "LLLL y"
    return format_date(date(year, number, 1), pattern, locale=current_language.get())


@dataclass(frozen=True)
class Signature:
    """Who signed some months of one association: the key and the proofs' dates."""

    association: str
    instance: str
    key_id: str
    months: list[str]
    created: list[str]


def _proof_of_body(body: str) -> dict[str, Any]:
    try:
        found = json.loads(body)
    except ValueError:
        return {}
    proof = found.get("proof") if isinstance(found, dict) else None
    if isinstance(proof, list) and len(proof) == 1:
        proof = proof[0]
    return proof if isinstance(proof, dict) else {}


def signatures(rows: list[ReceivedSummary]) -> list[Signature]:
    """The keys that signed the summaries, per association, with months and dates."""
    grouped: dict[tuple[str, str, str], list[tuple[str, str]]] = defaultdict(list)
    for row in rows:
        proof = _proof_of_body(row.body)
        key_id = str(proof.get("verificationMethod") or "")
        created = str(proof.get("created") or "")
        grouped[(row.issuer_name or row.issuer_uri, row.issuer_host, key_id)].append(
            (row.month, created)
        )
    return [
        Signature(name, host, key_id, sorted(m for m, _c in items), sorted(c for _m, c in items))
        for (name, host, key_id), items in sorted(grouped.items())
    ]


HOURS_COLUMNS = (
    Column("association", N_("Association"), "text"),
    Column("instance", N_("Instance"), "text"),
    Column("month", N_("Month"), "text"),
    Column("minutes", N_("Minutes"), "integer"),
    Column("hours", N_("Duration (hours, decimal)"), "hours"),
    Column("proof", N_("Proof"), "text"),
)


def hours_document(combined: CombinedHours, *, zone: tzinfo) -> Document:
    """The frame of an export of the combined hours (one row per association and month)."""
    now = datetime.now(zone).replace(microsecond=0)
    first, last = combined.months.first or "", combined.months.last or ""
    notes = _(
        "Hours of associations on other instances come from the summaries those "
        "instances signed; hours recorded here are stated by this instance."
    )
    return Document(
        key="rows",
        title=_("My hours"),
        columns=HOURS_COLUMNS,
        headers=[column.label for column in HOURS_COLUMNS],
        meta={
            "export": "hours",
            "generated_at": now.isoformat(),
            "from": first or None,
            "to": last or None,
            "columns": [{"key": c.key, "label": c.label} for c in HOURS_COLUMNS],
            "notes": notes,
        },
        about=[
            (_("Export"), _("My hours")),
            (_("Generated at"), now.isoformat(" ")[:19]),
            (_("From"), first or "-"),
            (_("To"), last or "-"),
            (_("Notes"), notes),
        ],
        about_title=_("Method"),
        statuses={},
    )


def hours_rows(combined: CombinedHours) -> list[tuple[Any, ...]]:
    """One row per association and month, then one total row."""
    rows: list[tuple[Any, ...]] = []
    for line in combined.lines:
        proof = proof_text(line)
        for month, minutes in line.months:
            rows.append((line.name, line.instance, month, minutes, minutes, proof))
    total = combined.total_minutes
    rows.append((_("Total"), "", "", total, total, ""))
    return rows
