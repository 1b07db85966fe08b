"""The body rows of a table of actions, written in Python.

Lists show 50 actions of eight cells with links: through a Jinja macro that is
an attribute lookup and an escape call per value (about half of a list page's
time). These f-strings write the same markup; every text is escaped.
"""

from collections.abc import Iterable
from html import escape
from typing import Any

from markupsafe import Markup

from instance.i18n import _
from web.formats import format_date, format_minutes


def _hidden_day(day: str) -> str:
    return f'<span class="visually-hidden"> {day}</span>'


def _links(row: Any, day: str, edit_base: str, words: dict[str, str]) -> str:
    """The last cell: see, change and delete (or "locked"), each naming the day for readers."""
    action_id = row.action.id
    locked = f'<span class="locked">{words["locked"]}</span>'
    if edit_base:
        if not row.editable:
            return locked
        base = f"{escape(edit_base)}/actions/{action_id}"
        return (
            f'<a href="{base}/edit">{words["change"]}{_hidden_day(day)}</a>'
            f'<a href="{base}/delete">{words["delete"]}{_hidden_day(day)}</a>'
        )
    see = f'<a href="/actions/{action_id}">{words["see"]}{_hidden_day(day)}</a>'
    if not row.editable:
        return see + locked
    return see + f'<a href="/actions/{action_id}/edit">{words["change"]}{_hidden_day(day)}</a>'


def _row(
    row: Any, show_volunteer: bool, show_association: bool, edit_base: str, words: dict[str, str]
) -> str:
    action = row.action
    day = escape(format_date(action.date))
    dates = day + (f" – {escape(format_date(action.end_date))}" if action.end_date else "")
    cells = [f"<td>{dates}</td>"]
    if show_association:
        cells.append(f"<td>{escape(row.association.name)}</td>")
    if show_volunteer:
        cells.append(f"<td>{escape(row.volunteer)}</td>")
    cells.append(f'<td class="number">{format_minutes(action.minutes)}</td>')
    project = f'<br><span class="muted">{escape(row.project)}</span>' if row.project else ""
    cells.append(f"<td>{escape(row.category)}{project}</td>")
    cells.append(f"<td>{escape(action.title)}</td>")
    reason = action.refusal_reason
    why = f'<br><span class="muted">{escape(reason)}</span>' if reason else ""
    status = escape(action.status)
    cells.append(f'<td><span class="badge status-{status}">{escape(row.status)}</span>{why}</td>')
    cells.append(f"<td>{_links(row, day, edit_base, words)}</td>")
    return "<tr>" + "".join(cells) + "</tr>"


def action_table_body(
    rows: Iterable[Any],
    show_volunteer: bool = False,
    show_association: bool = False,
    edit_base: str = "",
) -> Markup:
    """The ``<tr>`` of each row (web/pages/action_rows.py ActionRow) of a table of actions."""
    words = {
        "see": escape(_("See")),
        "change": escape(_("Change")),
        "delete": escape(_("Delete")),
        "locked": escape(_("Locked")),
    }
    return Markup(
        "\n".join(_row(row, show_volunteer, show_association, edit_base, words) for row in rows)
    )
