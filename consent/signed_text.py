"""The text shown in the BankID app and signed: a signing view as simpleMarkdownV1.

Its hash is what a signature is taken over, so the same view and purposes always give
the same text, and its fixed phrases live here, not in a translation catalogue.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC

from markdown_it import MarkdownIt
from markdown_it.token import Token

from app.errors import Unprocessable
from consent.signatures import SigningView

# Part of the signed text itself, so fixed here rather than in a translation
# catalogue: a catalogue change must never change what a hash was taken over.
_LABELS: dict[str, dict[str, str]] = {
    "sv": {
        "purposes": "Ändamål",
        "all_assets": "Gäller alla bilder och videor där personen förekommer.",
        "some_assets": "Gäller {n} utvalda filer.",
        "valid_until": "Giltigt till {date}.",
        "valid_days": "Giltigt i {n} dagar från underskriften.",
        "guardian": "Du undertecknar som vårdnadshavare för {name}.",
        "on_behalf": "Undertecknas för {tenant}.",
    },
    "nb": {
        "purposes": "Formål",
        "all_assets": "Gjelder alle bilder og videoer der personen er med.",
        "some_assets": "Gjelder {n} utvalgte filer.",
        "valid_until": "Gyldig til {date}.",
        "valid_days": "Gyldig i {n} dager fra signeringen.",
        "guardian": "Du signerer som foresatt for {name}.",
        "on_behalf": "Signeres på vegne av {tenant}.",
    },
    "en": {
        "purposes": "Purposes",
        "all_assets": "Covers all images and videos the person appears in.",
        "some_assets": "Covers {n} selected files.",
        "valid_until": "Valid until {date}.",
        "valid_days": "Valid for {n} days from signing.",
        "guardian": "You sign as guardian of {name}.",
        "on_behalf": "Signed on behalf of {tenant}.",
    },
}
_SPECIAL = str.maketrans({c: "\\" + c for c in "\\*+#|_~`"})
_markdown = MarkdownIt("commonmark")


def _escape(text: str) -> str:
    """Neutralise simpleMarkdownV1's formatting characters in free text."""
    return text.translate(_SPECIAL).strip()


def _inline(children: Sequence[Token] | None) -> str:
    parts: list[str] = []
    link: str | None = None
    for child in children or ():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
        elif child.type == "image":
            parts.append(_inline(child.children))
        elif child.type == "link_open":
            link = str(child.attrs.get("href") or "")
        elif child.type == "link_close" and link:
            parts.append(f" ({link})")
            link = None
    return "".join(parts)


def _plain_blocks(markdown: str) -> list[str]:
    """The body as plain paragraphs: Markdown structure becomes headings and
    bullets, everything else literal text with special characters escaped."""
    blocks: list[str] = []
    heading = 0
    item_prefix: list[str] = []  # one entry per open list; "" once the item's bullet is used
    numbers: list[int] = []
    for token in _markdown.parse(markdown):
        if token.type == "heading_open":
            heading = int(token.tag[1])
        elif token.type == "heading_close":
            heading = 0
        elif token.type in ("bullet_list_open", "ordered_list_open"):
            numbers.append(int(token.attrs.get("start") or 1) - 1 if token.type == "ordered_list_open" else -1)
            item_prefix.append("")
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            numbers.pop()
            item_prefix.pop()
        elif token.type == "list_item_open":
            if numbers[-1] >= 0:
                numbers[-1] += 1
                item_prefix[-1] = f"{numbers[-1]}. "
            else:
                item_prefix[-1] = "• "
        elif token.type == "inline":
            text = _escape(_inline(token.children))
            if not text:
                continue
            if heading:
                blocks.append("#" * min(heading + 1, 3) + " " + text)
            elif item_prefix:
                indent = "  " * (len(item_prefix) - 1)
                bullet = item_prefix[-1] or "  "
                item_prefix[-1] = ""
                blocks.append(indent + bullet + text)
            else:
                blocks.append(text)
        elif token.type in ("fence", "code_block"):
            text = _escape(token.content)
            if text:
                blocks.append(text)
    return blocks


def visible_text(view: SigningView, purposes: list[str]) -> str:
    """The exact text shown in the BankID app (simpleMarkdownV1): title, body, the
    chosen purposes with their labels, the assets and the validity. Deterministic:
    the same view and purposes always give the same text."""
    labels = _LABELS.get(view.locale, _LABELS["en"])
    offered = {p.key: p.label for p in view.purposes}
    unknown = [p for p in purposes if p not in offered]
    if unknown:
        raise Unprocessable(f"Not offered here: {', '.join(unknown)}.", errors={"purposes": ["Not offered."]})
    chosen = set(purposes)
    blocks = [f"# {_escape(view.title)}", *_plain_blocks(view.body_markdown)]
    if view.kind == "addendum":
        blocks.append(_escape(labels["on_behalf"].format(tenant=view.tenant_name)))
        return "\n\n".join(blocks)
    blocks.append(f"### {labels['purposes']}")
    blocks.append("\n".join(f"• {_escape(p.label)}" for p in view.purposes if p.key in chosen))
    if view.asset_count is None:
        blocks.append(labels["all_assets"])
    else:
        blocks.append(labels["some_assets"].format(n=view.asset_count))
    if view.valid_until is not None:
        blocks.append(labels["valid_until"].format(date=view.valid_until.astimezone(UTC).strftime("%Y-%m-%d")))
    elif view.validity_days is not None:
        blocks.append(labels["valid_days"].format(n=view.validity_days))
    if view.role == "guardian" and view.subject_name:
        blocks.append(_escape(labels["guardian"].format(name=view.subject_name)))
    return "\n\n".join(blocks)
