"""A message as an email: rendered once per message and language, then only the greeting and the unsubscribe link
per recipient. The organizer's subject and body are theirs, as written; the words around them (the greeting, who
sent it, the unsubscribe line) are in each recipient's language."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from flask import current_app, render_template
from flask_babel import force_locale
from markupsafe import escape
from sqlalchemy.orm import Session

from models import Race
from services.languages import current_language, language_for
from services.links import public_url
from services.mail.languages import account_languages
from services.markdown import render_markdown

# Stand-ins rendered into the templates and replaced per recipient: a control character can't come
# from the organizer (the form refuses them), so nothing they write is ever mistaken for one.
_GREETING = "\x00greeting\x00"
_UNSUBSCRIBE = "\x00unsubscribe\x00"
_TOKEN = "TOKEN"  # in the unsubscribe URL built once; a real token never is this word

ONE_CLICK = "List-Unsubscribe=One-Click"


@dataclass(frozen=True)
class RenderedMessage:
    """One message's text and HTML for everyone reading one language, rendered the first time someone does, with
    the places for each recipient's name and link."""

    subject: str
    essential: bool
    unsubscribe_url_template: str
    context: dict
    body: str
    _by_language: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)

    def unsubscribe_url(self, token: str) -> str:
        return self.unsubscribe_url_template.replace(_TOKEN, token)

    def in_language(self, language: str) -> tuple[str, str]:
        """(text, HTML) of the message in `language`, with the places for the name and link."""
        if language not in self._by_language:
            with force_locale(language):
                self._by_language[language] = (
                    render_template("emails/messages_message.txt", body=self.body, **self.context),
                    render_template("emails/messages_message.html", body=render_markdown(self.body), **self.context))
        return self._by_language[language]

    def for_recipient(self, first_name: str, unsubscribe_token: str | None,
                      language: str | None = None) -> tuple[str, str]:
        """(text, HTML) saying "Hi Ann", with Ann's own unsubscribe link, in `language` (the page's by default)."""
        text, html = self.in_language(language or current_language())
        url = self.unsubscribe_url(unsubscribe_token) if unsubscribe_token else ""
        name = " ".join(first_name.split())
        text = text.replace(_GREETING, f" {name}" if name else "").replace(_UNSUBSCRIBE, url)
        html = html.replace(_GREETING, f" {escape(name)}" if name else "").replace(_UNSUBSCRIBE, str(escape(url)))
        return text, html

    def headers(self, reply_to: str, unsubscribe_token: str | None) -> dict[str, str]:
        """Reply-To the organizer; for a non-essential message, the RFC 8058 one-click unsubscribe headers."""
        headers = {"Reply-To": reply_to}
        if unsubscribe_token and not self.essential:
            headers["List-Unsubscribe"] = f"<{self.unsubscribe_url(unsubscribe_token)}>"
            headers["List-Unsubscribe-Post"] = ONE_CLICK
        return headers


def render_message(race: Race, sender_name: str, subject: str, body: str, *, essential: bool) -> RenderedMessage:
    """The email every recipient of this message gets, rendered once a language (5,000 recipients cost one render
    for each language they read)."""
    context = {"race": race, "sender_name": sender_name, "subject": subject, "essential": essential,
               "site_name": current_app.config["SITE_NAME"], "greeting": _GREETING, "unsubscribe_url": _UNSUBSCRIBE,
               "race_url": public_url("races.race_page", slug=race.slug)}
    return RenderedMessage(subject=subject, essential=essential, context=context, body=body,
                           unsubscribe_url_template=public_url("messages_public.unsubscribe", token=_TOKEN))


def recipient_languages(session: Session, race: Race, emails: Iterable[str]) -> dict[str, str]:
    """Lowercased address → the language its message is written in: the account's choice, else the race's."""
    emails = list(emails)
    chosen = account_languages(session, emails)
    return {email.strip().lower(): language_for(chosen.get(email.strip().lower()), race.language) for email in emails}
