"""A message as an email: rendered once per message, then only the greeting and the unsubscribe link per recipient."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, render_template
from markupsafe import escape

from models import Race
from services.links import public_url
from services.markdown import render_markdown

# Stand-ins rendered into the templates and replaced per recipient: a control character can't come
# from the organizer (the form refuses them), so nothing they write is ever mistaken for one.
_GREETING = "\x00greeting\x00"
_UNSUBSCRIBE = "\x00unsubscribe\x00"
_TOKEN = "TOKEN"  # in the unsubscribe URL built once; a real token never is this word

ONE_CLICK = "List-Unsubscribe=One-Click"


@dataclass(frozen=True)
class RenderedMessage:
    """One message's text and HTML for everyone, with the places for each recipient's name and link."""

    subject: str
    text: str
    html: str
    essential: bool
    unsubscribe_url_template: str

    def unsubscribe_url(self, token: str) -> str:
        return self.unsubscribe_url_template.replace(_TOKEN, token)

    def for_recipient(self, first_name: str, unsubscribe_token: str | None) -> tuple[str, str]:
        """(text, HTML) saying "Hi Ann", with Ann's own unsubscribe link."""
        url = self.unsubscribe_url(unsubscribe_token) if unsubscribe_token else ""
        name = " ".join(first_name.split())
        text = self.text.replace(_GREETING, f" {name}" if name else "").replace(_UNSUBSCRIBE, url)
        html = self.html.replace(_GREETING, f" {escape(name)}" if name else "").replace(_UNSUBSCRIBE, str(escape(url)))
        return text, html

    def headers(self, reply_to: str, unsubscribe_token: str | None) -> dict[str, str]:
        """Reply-To the organizer; for a non-essential message, the RFC 8058 one-click unsubscribe headers."""
        headers = {"Reply-To": reply_to}
        if unsubscribe_token and not self.essential:
            headers["List-Unsubscribe"] = f"<{self.unsubscribe_url(unsubscribe_token)}>"
            headers["List-Unsubscribe-Post"] = ONE_CLICK
        return headers


def render_message(race: Race, sender_name: str, subject: str, body: str, *, essential: bool) -> RenderedMessage:
    """The email every recipient of this message gets, rendered once (5,000 recipients cost one render)."""
    context = {"race": race, "sender_name": sender_name, "subject": subject, "essential": essential,
               "site_name": current_app.config["SITE_NAME"], "greeting": _GREETING, "unsubscribe_url": _UNSUBSCRIBE,
               "race_url": public_url("races.race_page", slug=race.slug)}
    return RenderedMessage(
        subject=subject, essential=essential,
        text=render_template("emails/messages_message.txt", body=body, **context),
        html=render_template("emails/messages_message.html", body=render_markdown(body), **context),
        unsubscribe_url_template=public_url("messages_public.unsubscribe", token=_TOKEN))
