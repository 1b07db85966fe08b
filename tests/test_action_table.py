"""The rows of a table of actions (web/action_table.py): every branch, every text escaped."""

from datetime import date
from types import SimpleNamespace

from instance import i18n
from web.action_table import action_table_body


def _row(action_id: int, editable: bool = True, **action: object) -> SimpleNamespace:
    fields = {
        "id": action_id,
        "date": date(2026, 3, action_id),
        "end_date": None,
        "minutes": 90,
        "title": '<b>Fête</b> & "rangement"',
        "status": "validated",
        "refusal_reason": "",
        **action,
    }
    return SimpleNamespace(
        action=SimpleNamespace(**fields),
        association=SimpleNamespace(name="Les <Amis>"),
        category="Accueil & co",
        project="",
        level="",
        volunteer="Zoé <script>",
        status="Validated",
        editable=editable,
    )


def test_texts_are_escaped_and_columns_follow_the_options() -> None:
    html = str(action_table_body([_row(1)], show_volunteer=True, show_association=True))
    assert "<b>" not in html and "<script>" not in html and "<Amis>" not in html
    assert "&lt;b&gt;Fête&lt;/b&gt; &amp; &quot;rangement&quot;" in html
    assert "<td>Les &lt;Amis&gt;</td><td>Zoé &lt;script&gt;</td>" in html
    assert '<td class="number">1 h 30</td>' in html
    bare = str(action_table_body([_row(1)]))
    assert "Les &lt;Amis&gt;" not in bare and "Zoé" not in bare


def test_links_name_the_day_and_locked_actions_offer_none() -> None:
    open_row, locked_row = _row(1), _row(2, editable=False, status="refused", refusal_reason="<x>")
    html = str(action_table_body([open_row, locked_row]))
    first, second = html.split("\n")
    hidden = '<span class="visually-hidden"> 2026-03-01</span>'
    assert f'<a href="/actions/1">See{hidden}</a>' in first
    assert f'<a href="/actions/1/edit">Change{hidden}</a>' in first
    assert '<a href="/actions/2">See' in second and "/actions/2/edit" not in second
    assert '<span class="locked">Locked</span>' in second
    assert 'status-refused">Validated</span><br><span class="muted">&lt;x&gt;</span>' in second


def test_access_links_edit_and_delete_under_their_base() -> None:
    html = str(action_table_body([_row(3), _row(4, editable=False)], edit_base="/access"))
    assert '<a href="/access/actions/3/edit">' in html
    assert '<a href="/access/actions/3/delete">' in html
    assert "/actions/4" not in html and html.count('<span class="locked">') == 1
    assert '<a href="/actions/3">' not in html  # no page of its own behind an access link


def test_end_dates_and_words_follow_the_language() -> None:
    row = _row(5, end_date=date(2026, 3, 9))
    row.project = "Printemps"
    with i18n.use_language("fr"):
        html = str(action_table_body([row]))
    assert "<td>05/03/2026 – 09/03/2026</td>" in html
    assert '<br><span class="muted">Printemps</span>' in html
    assert ">Voir<" in html and ">Modifier<" in html
