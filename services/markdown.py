"""Organizer-written Markdown to safe HTML: no raw HTML, no scripts, no event handlers."""
from __future__ import annotations

import nh3
import sqlalchemy as sa
from markdown_it import MarkdownIt
from markupsafe import Markup

# Raw HTML is off in the parser, and nh3 cleans the output again: two independent walls.
_parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": True})
_parser.enable(["table", "strikethrough"])

_ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s", "code",
    "pre", "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
}
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}


def render_markdown(text: str) -> Markup:
    """Markdown → sanitized HTML, safe to put in a page as it is."""
    html = _parser.render(text or "")
    clean = nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
    )
    return Markup(clean)


def refill_description_html(connection) -> int:
    """Render every race's stored description HTML again from its Markdown (the migration that added it, and
    `flask refill-descriptions` after an offline `--sql` upgrade); returns how many races were rendered."""
    races = sa.table("races", sa.column("id", sa.Integer), sa.column("description", sa.Text),
                     sa.column("description_html", sa.Text))
    rows = connection.execute(sa.select(races.c.id, races.c.description)).all()
    for race_id, description in rows:
        connection.execute(races.update().where(races.c.id == race_id)
                           .values(description_html=str(render_markdown(description)) if description else ""))
    return len(rows)
