"""The public privacy page at /privacy: docs/privacy.md as a plain page, with the partnership's details and
the retention periods filled in from settings, so the page and the document never disagree."""
from __future__ import annotations

import html
import re
from functools import lru_cache

from flask import Blueprint, render_template
from markupsafe import Markup

from bot.settings import REPO_ROOT, get_settings
from webhook.chat import QUICK_EXIT_URL

bp = Blueprint("privacy", __name__)

PRIVACY_DOC = REPO_ROOT / "docs" / "privacy.md"
_SAFE_LINK = re.compile(r"^(https://|mailto:|tel:|/)[^\s\"'<>]*$")
_INLINE = re.compile(r"\*\*(?P<bold>[^*]+)\*\*|\[(?P<label>[^\]]+)\]\((?P<href>[^)\s]+)\)")
_PLACEHOLDER = re.compile(r"{(\w+)}")


def _values() -> dict[str, str]:
    settings = get_settings()
    months = settings.audit_retention_months
    return {**settings.partnership.as_slots(),
            "retention_months_after_close": str(settings.retention_months_after_close),
            "retention_days_unlinked": str(settings.retention_days_unlinked),
            "audit_retention_period": f"{months // 12} years" if months % 12 == 0 else f"{months} months"}


def _inline(text: str) -> str:
    """Escapes everything, then allows **bold** and [links](https://...) to safe destinations only."""
    out, position = [], 0
    for match in _INLINE.finditer(text):
        out.append(html.escape(text[position:match.start()]))
        if match.group("bold"):
            out.append(f"<strong>{html.escape(match.group('bold'))}</strong>")
        elif _SAFE_LINK.match(match.group("href")):
            out.append(f'<a href="{html.escape(match.group("href"))}">{html.escape(match.group("label"))}</a>')
        else:
            out.append(html.escape(match.group(0)))
        position = match.end()
    out.append(html.escape(text[position:]))
    return "".join(out)


def markdown_to_html(source: str) -> str:
    """The small part of Markdown the document uses: #-headings, paragraphs, "-" and "1." lists, bold and
    links. Anything else is shown as text, so no HTML in the file can reach the page."""
    out, paragraph, list_tag = [], [], None

    def close_paragraph():
        if paragraph:
            out.append(f"<p>{_inline(' '.join(paragraph))}</p>")
            paragraph.clear()

    def close_list():
        nonlocal list_tag
        if list_tag:
            out.append(f"</{list_tag}>")
            list_tag = None

    for raw in source.splitlines():
        line = raw.strip()
        heading = re.match(r"^(#{1,3})\s+(.*)$", line)
        item = re.match(r"^(?:(-)|\d+\.)\s+(.*)$", line)
        if not line:
            close_paragraph()
            close_list()
        elif heading:
            close_paragraph()
            close_list()
            level = len(heading.group(1))
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif item:
            close_paragraph()
            tag = "ul" if item.group(1) else "ol"
            if list_tag != tag:
                close_list()
                out.append(f"<{tag}>")
                list_tag = tag
            out.append(f"<li>{_inline(item.group(2))}</li>")
        elif list_tag and raw.startswith((" ", "\t")):
            out[-1] = out[-1][:-len("</li>")] + " " + _inline(line) + "</li>"  # a list item carried on
        else:
            close_list()
            paragraph.append(line)
    close_paragraph()
    close_list()
    return "\n".join(out)


@lru_cache(maxsize=1)
def _document() -> str:
    return PRIVACY_DOC.read_text(encoding="utf-8")


def privacy_html() -> Markup:
    values = _values()
    filled = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), _document())
    return Markup(markdown_to_html(filled))


@bp.get("/privacy")
def privacy():
    return render_template("privacy.html", body=privacy_html(), partnership=get_settings().partnership,
                           quick_exit_url=QUICK_EXIT_URL)
