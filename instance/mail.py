"""Sending email over SMTP (or to the log, for instances without a mail server)."""

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from instance.config import EmailConfig

log = logging.getLogger("benefed.mail")


@dataclass(frozen=True)
class Mail:
    """One plain-text email to one address."""

    to: str
    subject: str
    body: str


class Mailer:
    """Sends mails with the instance's SMTP settings; failures are logged, not raised."""

    def __init__(self, config: EmailConfig, site_name: str) -> None:
        self.config = config
        self.site_name = site_name

    def message(self, mail: Mail) -> EmailMessage:
        """The MIME message for a mail."""
        message = EmailMessage()
        message["From"] = f"{self.site_name} <{self.config.from_address}>"
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.config.from_address.split("@")[-1])
        message.set_content(mail.body)
        return message

    def send(self, *mails: Mail) -> bool:
        """Send the mails in one SMTP session; False (and a log line) on failure."""
        if not mails:
            return True
        if self.config.backend == "log":
            for mail in mails:
                log.info("mail to=%s subject=%s\n%s", mail.to, mail.subject, mail.body)
            return True
        try:
            with self._connect() as smtp:
                for mail in mails:
                    smtp.send_message(self.message(mail))
        except (OSError, smtplib.SMTPException) as error:
            log.error("mail not sent: %s", error)
            return False
        return True

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        if config.smtp_security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                config.smtp_host,
                config.smtp_port,
                timeout=config.smtp_timeout,
                context=ssl.create_default_context(),
            )
        else:
            smtp = smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=config.smtp_timeout)
            if config.smtp_security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
        if config.smtp_username:
            smtp.login(config.smtp_username, config.smtp_password)
        return smtp
