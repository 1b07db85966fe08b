"""Pages about actions: every route of the modules below, and the names other pages use.

- action_record.py: record an action in three taps, correct or delete it, repeat the last one;
- action_lists.py: the lists (an association's, my own) with filters and totals;
- action_rows.py: the rows of a list, one action's page and its audit trail;
- action_manage.py: entry for a group and the validation queue (managers);
- action_import.py: actions imported from a spreadsheet (managers);
- action_forms.py and action_support.py: the form's parts and what the pages share.
"""

from web.pages import action_import, action_lists, action_manage, action_record
from web.pages import action_rows as rows_pages
from web.pages.action_record import delete_page, edit_page, record_page, repeat_last
from web.pages.action_rows import action_rows
from web.pages.action_support import Actor, last_action, manage_links, redirect

# Names other page modules import from here (access links, taxonomy, statistics).
__all__ = [
    "Actor",
    "action_rows",
    "delete_page",
    "edit_page",
    "last_action",
    "manage_links",
    "record_page",
    "redirect",
    "repeat_last",
    "routes",
]

routes = [
    *action_record.routes,
    *action_manage.routes,
    *action_import.routes,
    *rows_pages.routes,
    *action_lists.routes,
]
