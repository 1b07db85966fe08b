"""Emails about a person's own account, written in their language.

Each function builds one plain-text mail; the caller sends it once its database
transaction is committed. Links are absolute (the instance's base URL + path).
"""

from urllib.parse import quote

from instance.account_tokens import LIFETIME_DAYS
from instance.accounts import display
from instance.i18n import _, use_language
from instance.mail import Mail
from schema.tables import User


def absolute(base_url: str, path: str) -> str:
    """The full address of a path of this instance."""
    return base_url.rstrip("/") + path


def confirm_path(token: str, next_path: str = "") -> str:
    """The path of a confirmation link (keeps where to go after logging in)."""
    path = f"/confirm/{token}"
    if next_path and next_path != "/dashboard":
        path += "?next=" + quote(next_path, safe="/")
    return path


def confirmation_mail(
    user: User, *, token: str, base_url: str, site_name: str, next_path: str = ""
) -> Mail:
    """The mail with the link that confirms a new account's address."""
    link = absolute(base_url, confirm_path(token, next_path))
    with use_language(user.language):
        subject = _("Confirm your email address on {site}").format(site=site_name)
        lines = [
            _("Hello {name},").format(name=display(user)),
            "",
            _("Welcome to {site}! To finish creating your account, open this link:").format(
                site=site_name
            ),
            link,
            "",
            _("The link works once, for {days} days.").format(days=LIFETIME_DAYS),
            _("Your user name is: {username}").format(username=user.username),
            "",
            _("If you did not create this account, ignore this email: nothing will happen."),
        ]
    return Mail(to=user.email, subject=subject, body="\n".join(lines))


def reset_mail(user: User, *, token: str, base_url: str, site_name: str) -> Mail:
    """The mail with the link to choose a new password."""
    link = absolute(base_url, f"/password/reset/{token}")
    with use_language(user.language):
        subject = _("Choose a new password on {site}").format(site=site_name)
        lines = [
            _("Hello {name},").format(name=display(user)),
            "",
            _(
                "Someone, probably you, asked for a new password for the account {username}. "
                "To choose a new password, open this link:"
            ).format(username=user.username),
            link,
            "",
            _("The link works once, for {days} days.").format(days=LIFETIME_DAYS),
            "",
            _("If you did not ask for it, ignore this email: your password stays the same."),
        ]
    return Mail(to=user.email, subject=subject, body="\n".join(lines))


def password_changed_mail(user: User, *, base_url: str, site_name: str) -> Mail:
    """The mail telling the person their password was just changed."""
    link = absolute(base_url, "/password/reset")
    with use_language(user.language):
        subject = _("Your password was changed on {site}").format(site=site_name)
        lines = [
            _("Hello {name},").format(name=display(user)),
            "",
            _("The password of your account {username} was just changed.").format(
                username=user.username
            ),
            _("If you did it, there is nothing else to do."),
            "",
            _(
                "If you did not, someone else may know your password. "
                "Choose a new one at once with this link, and tell the administrators of the site:"
            ),
            link,
        ]
    return Mail(to=user.email, subject=subject, body="\n".join(lines))
