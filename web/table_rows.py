"""Table body rows written in Python, for the long tables of figures pages.

A statistics page lists 200 volunteers, a network's dashboard 1,000 members:
Jinja spends an attribute lookup and an escape call on every cell (about 40 ms a
page for 1,000 rows of seven cells); these f-strings take a tenth of it. Every
text is escaped unless it is already Markup; the markup is what the templates
wrote before.
"""

from collections.abc import Iterable
from html import escape as escape_text

from markupsafe import Markup

NUMBER = '<td class="number">'
TEXT = "<td>"


def text(value: object) -> str:
    """A cell's markup: Markup as it is, numbers as digits, any other text escaped.

    ``html.escape`` on a plain str costs half of markupsafe's ``escape`` (which
    wraps each result in a Markup object): 1,000 cells a page make it count.
    """
    if isinstance(value, Markup):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return escape_text(str(value))


def row(header: str, cells: Iterable[tuple[object, bool]]) -> str:
    """``<tr>`` with a row header and cells, each (value, numeric)."""
    parts = [f'<tr><th scope="row">{text(header)}</th>']
    for value, numeric in cells:
        parts.append(f"{NUMBER if numeric else TEXT}{text(value)}</td>")
    parts.append("</tr>")
    return "".join(parts)


def number_row(header: str, numbers: Iterable[str | int]) -> str:
    """``<tr>`` with a row header (escaped) and number cells written as they are.

    For figures made by the formatters (``format_minutes``, ``euros``: digits, signs
    and units, never markup), which make most cells of the long tables: no escape
    call each.
    """
    cells = "".join(f"{NUMBER}{number}</td>" for number in numbers)
    return f'<tr><th scope="row">{escape_text(header)}</th>{cells}</tr>'


def body(rows: Iterable[str]) -> Markup:
    """Rows made by ``row`` as one piece of markup ("" when there are none)."""
    return Markup("\n".join(rows))
