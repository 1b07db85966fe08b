"""The attestation as a PDF for people: hours by association and month, who signed what.

Built with fpdf2 in the current language. A Unicode font (DejaVu Sans) is used
when the system has one; otherwise the PDF core font, with the characters it
cannot write replaced.
"""

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from instance.i18n import _
from instance.person_hours import CombinedHours, HoursLine, Signature, month_label, proof_text
from instance.valuation import duration_text

FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/local/share/fonts"),
)
FAMILY = "benefed"
CORE_FAMILY = "helvetica"
MONTH_WIDTH = 70
HOURS_WIDTH = 35


@dataclass(frozen=True)
class AttestationData:
    """What the attestation states, gathered beforehand."""

    person: str
    handle: str
    combined: CombinedHours
    signatures: list[Signature]
    issued: datetime
    instance: str
    verify_url: str


def _font_files() -> tuple[Path, Path] | None:
    for directory in FONT_DIRS:
        regular, bold = directory / "DejaVuSans.ttf", directory / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            return regular, bold
    return None


class _Document(FPDF):
    """An A4 page flow with a page number footer."""

    unicode = False

    def setup(self) -> None:
        files = _font_files()
        if files is not None:
            self.add_font(FAMILY, "", str(files[0]))
            self.add_font(FAMILY, "B", str(files[1]))
            self.unicode = True
        self.set_auto_page_break(auto=True, margin=18)
        self.set_margins(18, 16, 18)

    def use(self, size: float, bold: bool = False) -> None:
        self.set_font(FAMILY if self.unicode else CORE_FAMILY, "B" if bold else "", size)

    def clean(self, text: str) -> str:
        if self.unicode:
            return text
        return text.encode("latin-1", "replace").decode("latin-1")

    def paragraph(self, text: str, size: float = 10, bold: bool = False, gap: float = 1.5) -> None:
        self.use(size, bold)
        self.multi_cell(0, size * 0.5, self.clean(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(gap)

    def footer(self) -> None:
        self.set_y(-12)
        self.use(8)
        page = _("Page {number} of {count}").format(number=self.page_no(), count="{nb}")
        self.cell(0, 5, self.clean(page), align="C")


def _period_text(data: AttestationData) -> str:
    first, last = data.combined.months.first, data.combined.months.last
    if first and last:
        return _("From {first} to {last}").format(first=month_label(first), last=month_label(last))
    if first:
        return _("From {first}").format(first=month_label(first))
    if last:
        return _("Until {last}").format(last=month_label(last))
    return _("Every month recorded")


def _status(line: HoursLine) -> str:
    if not line.remote:
        return _("Stated by this instance ({instance}), where these hours are recorded.").format(
            instance=line.instance
        )
    return _("Signed by the association on {instance}. Proof: {status}.").format(
        instance=line.instance, status=proof_text(line)
    )


def _association(pdf: _Document, line: HoursLine) -> None:
    pdf.paragraph(f"{line.name} ({line.instance})", size=11, bold=True, gap=0.5)
    pdf.paragraph(_status(line), size=9, gap=1)
    pdf.use(9)
    with pdf.table(
        col_widths=(MONTH_WIDTH, HOURS_WIDTH),
        width=MONTH_WIDTH + HOURS_WIDTH,
        align="LEFT",
        text_align=("LEFT", "RIGHT"),
        line_height=5,
    ) as table:
        table.row([pdf.clean(_("Month")), pdf.clean(_("Hours"))])
        for month, minutes in line.months:
            table.row([pdf.clean(month_label(month)), pdf.clean(duration_text(minutes))])
        table.row([pdf.clean(_("Total")), pdf.clean(duration_text(line.minutes))])
    pdf.ln(3)


def _signature_line(item: Signature) -> str:
    months = (
        month_label(item.months[0])
        if len(item.months) == 1
        else _("{first} to {last}").format(
            first=month_label(item.months[0]), last=month_label(item.months[-1])
        )
    )
    dates = sorted({created[:10] for created in item.created if created})
    signed = dates[0] if len(dates) == 1 else " - ".join((dates[0], dates[-1])) if dates else "?"
    return _("{association} ({instance}), {months}: key {key}, signed on {dates}.").format(
        association=item.association,
        instance=item.instance,
        months=months,
        key=item.key_id or "?",
        dates=signed,
    )


def _checking(pdf: _Document, data: AttestationData) -> None:
    pdf.paragraph(_("How to check this attestation"), size=12, bold=True)
    pdf.paragraph(
        _(
            "This document comes with a JSON file, the attestation bundle, that holds every "
            "summary exactly as the associations signed it. To check it, open the page below "
            "and give it the file, or run: benefed verify FILE --online"
        )
    )
    pdf.paragraph(data.verify_url, bold=True)
    pdf.paragraph(
        _(
            "Each summary is then valid (signed by the association and unchanged), tampered "
            "(changed after it was signed) or key unknown (the key that signed it cannot be found)."
        ),
        size=9,
    )


def attestation_pdf(data: AttestationData) -> bytes:
    """The attestation as PDF bytes, in the current language."""
    pdf = _Document(format="A4")
    pdf.setup()
    title = _("Attestation of volunteer hours")
    pdf.set_title(pdf.clean(title))
    pdf.set_creator("Benefed")
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.paragraph(title, size=16, bold=True, gap=3)
    pdf.paragraph(
        _("Volunteer: {person} ({handle})").format(person=data.person, handle=data.handle)
    )
    pdf.paragraph(_("Period: {period}").format(period=_period_text(data)))
    pdf.paragraph(
        _("Issued on {date} by {instance}.").format(
            date=data.issued.strftime("%Y-%m-%d"), instance=data.instance
        ),
        gap=3,
    )
    pdf.paragraph(_("Hours by association"), size=12, bold=True)
    if not data.combined.lines:
        pdf.paragraph(_("No hours in this period."))
    for line in data.combined.lines:
        _association(pdf, line)
    total = duration_text(data.combined.total_minutes)
    pdf.paragraph(_("Total for the period: {total}").format(total=total), size=12, bold=True, gap=3)
    if data.signatures:
        pdf.paragraph(_("Who signed what"), size=12, bold=True)
        for item in data.signatures:
            pdf.paragraph(_signature_line(item), size=9, gap=1)
        pdf.ln(2)
    _checking(pdf, data)
    return bytes(pdf.output())
