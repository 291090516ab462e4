"""Record → HTML → PDF/A-3b bytes (WeasyPrint), with the evidence JSON attached.

Pure functions of a :class:`~reports.context.RecordContext`. WeasyPrint may
only read ``data:`` URLs, our own templates/static files and the font files
named below; anything else stops the rendering.
"""

from __future__ import annotations

import base64
import io
import json
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import nh3
import qrcode
import qrcode.constants
from babel.dates import format_datetime
from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup
from weasyprint import HTML, Attachment
from weasyprint import __version__ as weasyprint_version
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

from reports.context import EVIDENCE_NAME, RecordContext, build_evidence_json
from reports.errors import RenderingFailed

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
TRANSLATIONS_DIR = PACKAGE_DIR.parent / "app" / "translations"
# Debian's fonts-dejavu-core. Named files, not a family name, so fontconfig
# never picks a different face on another host.
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_FILES = {
    "regular": "DejaVuSans.ttf",
    "bold": "DejaVuSans-Bold.ttf",
    "italic": "DejaVuSans-Oblique.ttf",
    "bold_italic": "DejaVuSans-BoldOblique.ttf",
    "mono": "DejaVuSansMono.ttf",
}
PDF_VARIANT = "pdf/a-3b"

# Consent texts are authored by customers: no raw HTML, no images (nothing to fetch).
_ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i",
    "ul", "ol", "li", "blockquote", "code", "pre", "a", "table", "thead", "tbody",
    "tr", "th", "td",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


class RestrictedFetcher(URLFetcher):
    """A WeasyPrint fetcher that reads only ``data:`` URLs and allow-listed local files.

    ``fail_on_errors`` turns a refusal into a fatal error: a record silently
    missing a resource is worse than no record.
    """

    def __init__(self, allowed_dirs: tuple[Path, ...] | None = None) -> None:
        super().__init__(fail_on_errors=True, allowed_protocols={"data", "file"}, allow_redirects=False)
        self.allowed_dirs = allowed_dirs or (TEMPLATES_DIR, STATIC_DIR, FONT_DIR)

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        scheme = url.split(":", 1)[0].lower()
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme == "file":
            parts = urlsplit(url)
            if parts.netloc not in ("", "localhost"):
                raise ValueError(f"remote file URL refused: {url}")
            path = Path(unquote(parts.path)).resolve()
            if any(path.is_relative_to(root.resolve()) for root in self.allowed_dirs) and path.is_file():
                return URLFetcherResponse(url, body=path.read_bytes())
        raise ValueError(f"resource refused by the record URL fetcher: {url}")


_thread_state = threading.local()


def _font_config() -> FontConfiguration:
    """This thread's WeasyPrint font configuration.

    A fresh FontConfiguration per document copies the @font-face files and
    leaks a few hundred KiB of fontconfig/Pango state each time (RSS grew 40 %
    over 250 records); one per thread keeps workers flat and renders faster.
    Not shared across threads or forks: Pango objects are neither thread- nor
    fork-safe.
    """
    if getattr(_thread_state, "pid", None) != os.getpid():
        _thread_state.font_config = FontConfiguration()
        _thread_state.pid = os.getpid()
    font_config: FontConfiguration = _thread_state.font_config
    return font_config


@lru_cache(maxsize=8)
def _translations(locale: str) -> NullTranslations:
    # Babel returns NullTranslations when the catalog is not compiled yet.
    return Translations.load(str(TRANSLATIONS_DIR), [locale], domain="messages")


@lru_cache(maxsize=8)
def _environment(locale: str) -> Environment:
    # One environment per locale: installing translations mutates its globals.
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        # HTML is escaped; the CSS include is not (HTML entities mean nothing in CSS).
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(_translations(locale), newstyle=True)  # type: ignore[attr-defined]
    return env


def markdown_to_html(text: str) -> Markup:
    """Consent markdown as sanitised HTML (raw HTML in the source is shown as text)."""
    html = _markdown.render(text)
    clean = nh3.clean(html, tags=_ALLOWED_TAGS, attributes=_ALLOWED_ATTRIBUTES, url_schemes={"https", "http", "mailto"})
    return Markup(clean)  # noqa: S704 - nh3 output is safe HTML by construction


def qr_data_url(text: str) -> str:
    """A PNG QR code as a ``data:`` URL (error correction M survives print wear)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=8, border=4)
    code.add_data(text)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _css_string(text: str) -> str:
    # Safe inside a CSS string inside <style>: no quote, backslash, newline or "<".
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ").replace("<", "\\3C ")


def _labels(ctx: RecordContext) -> dict[str, str]:
    t = _translations(ctx.locale)
    _ = t.gettext
    titles = {
        "consent_given": _("Consent record"),
        "consent_refused": _("Record of refused consent"),
        "consent_withdrawn": _("Record of withdrawn consent"),
        "consent_revoked": _("Record of revoked consent"),
        "addendum_signed": _("Signed data processing addendum"),
        "addendum_revoked": _("Revoked data processing addendum"),
    }
    statuses = {
        "consent_given": _("Consent given"),
        "consent_refused": _("Consent refused"),
        "consent_withdrawn": _("Consent withdrawn by the data subject"),
        "consent_revoked": _("Consent revoked by the controller"),
        "addendum_signed": _("Addendum signed"),
        "addendum_revoked": _("Addendum revoked"),
    }
    status_times = {
        "consent_refused": _("Refused at"),
        "consent_withdrawn": _("Withdrawn at"),
        "consent_revoked": _("Revoked at"),
        "addendum_revoked": _("Revoked at"),
    }
    return {
        "title": titles[ctx.kind],
        "status_label": statuses[ctx.kind],
        "status_time_label": status_times.get(ctx.kind, _("Status changed at")),
        "footer_label": _css_string(f"{ctx.tenant.name} · {_('Record')} {ctx.record_id}"),
    }


def render_html(ctx: RecordContext) -> str:
    """The record as a self-contained HTML document in ``ctx.locale``."""
    env = _environment(ctx.locale)
    _ = _translations(ctx.locale).gettext
    zone = ZoneInfo(ctx.timezone)
    roles = {"subject": _("Data subject"), "guardian": _("Guardian"), "representative": _("Representative")}
    methods = {"bankid": _("Swedish BankID"), "oidc": _("OpenID Connect")}
    template = env.get_template("record.html")
    return template.render(
        ctx=ctx,
        text_html=markdown_to_html(ctx.text_markdown),
        qr_data_url=qr_data_url(ctx.verify_url),
        fonts={k: (FONT_DIR / v).as_uri() for k, v in FONT_FILES.items()},
        role_label=lambda role: roles.get(role, role),
        method_label=lambda method: methods.get(method, method),
        generator=f"Samtycke (WeasyPrint {weasyprint_version})",
        when=lambda value: format_datetime(value, "long", tzinfo=zone, locale=ctx.locale),
        # A reason the service wrote itself (e.g. an erased guardian's) is a catalogue text and shows
        # translated; one typed by staff matches no entry and shows as typed.
        reason=_(ctx.reason) if ctx.reason else None,
        **_labels(ctx),
    )


def evidence_bytes(ctx: RecordContext) -> bytes:
    """The exact bytes embedded as ``evidence.json``."""
    return json.dumps(build_evidence_json(ctx), ensure_ascii=False, sort_keys=True, indent=2).encode("utf-8")


def render_pdf(ctx: RecordContext) -> bytes:
    """The record as PDF/A-3b, ``evidence.json`` attached with AFRelationship /Data."""
    missing = [name for name in FONT_FILES.values() if not (FONT_DIR / name).is_file()]
    if missing:
        raise RenderingFailed(f"fonts missing from {FONT_DIR}: {', '.join(missing)} (install fonts-dejavu-core)")
    fetcher = RestrictedFetcher()
    created = ctx.created_at.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)  # WeasyPrint writes it with "Z"
    attachment = Attachment(
        string=evidence_bytes(ctx),
        name=EVIDENCE_NAME,
        description="Consent record (W3C DPV / ISO/IEC TS 27560) and signature evidence",
        relationship="Data",
        created=created,
        modified=created,
        url_fetcher=fetcher,
    )
    html = HTML(string=render_html(ctx), base_url=STATIC_DIR.as_uri() + "/", url_fetcher=fetcher)
    try:
        pdf = html.write_pdf(
            pdf_variant=PDF_VARIANT, attachments=[attachment], uncompressed_pdf=False, font_config=_font_config()
        )
    except FatalURLFetchingError as exc:  # a BaseException: catch it explicitly
        raise RenderingFailed(str(exc.__cause__ or exc)) from exc
    assert isinstance(pdf, bytes)
    return pdf
