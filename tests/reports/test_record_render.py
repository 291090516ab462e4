"""Rendering: HTML in three locales, PDF/A-3b, attached evidence, restricted fetching."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo

from reports import render
from reports.context import RecordContext, build_evidence_json
from reports.errors import InvalidRecordContext, RenderingFailed
from reports.render import RestrictedFetcher, render_html, render_pdf
from reports.samples import sample_context

Tool = Callable[..., subprocess.CompletedProcess[str]]
LOCALISED_DATE = {"sv": "1 mars 2025", "nb": "1. mars 2025", "en": "March 1, 2025"}


@pytest.mark.parametrize("locale", ["sv", "nb", "en"])
def test_html_in_each_locale_shows_the_record(locale: str) -> None:
    ctx = sample_context("consent_given", locale)  # type: ignore[arg-type]
    html = render_html(ctx)
    assert f'<html lang="{locale}">' in html
    assert LOCALISED_DATE[locale] in html  # babel dates in the record's locale
    for expected in (ctx.record_id, ctx.tenant.name, "Elsa Andersson", "20120315-****"):
        assert expected in html
    # The devices' addresses as keyed hashes only (sample_context: 192.0.2.10, 2001:db8::17).
    assert "192.0.2.10" not in html and "2001:db8::17" not in html
    assert all(s.device_ip_hmac and s.device_ip_hmac in html for s in ctx.signers)
    assert "https://idp.example.se" in html and "b3f1c1a2-2d6e-4f0e-8f65-7b7f0c3b5d10" in html  # OIDC evidence
    assert ctx.template.text_sha256 in html and ctx.audit_event_hash in html and ctx.verify_url in html
    assert all(p.label in html for p in ctx.purposes)
    assert "asset-2044" in html
    assert re.search(r'<img class="qr" src="data:image/png;base64,', html)


@pytest.mark.parametrize("locale", ["sv", "nb", "en"])
def test_pdf_in_each_locale_passes_qpdf(locale: str, write_pdf: Callable[..., Path], tool: Tool) -> None:
    pdf = render_pdf(sample_context("consent_withdrawn", locale))  # type: ignore[arg-type]
    result = tool("qpdf", "--check", str(write_pdf(pdf)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No syntax or stream encoding errors" in result.stdout


def test_consent_markdown_is_rendered_and_raw_html_is_not() -> None:
    html = render_html(sample_context("consent_given", "en"))
    assert "<h1>Consent to images</h1>" in html and "<strong>Example School</strong>" in html
    assert "<script>" not in html
    assert "&lt;script&gt;" in html  # shown as text, exactly as it was signed


def test_title_per_kind() -> None:
    titles = {
        "consent_given": "Consent record",
        "consent_refused": "Record of refused consent",
        "consent_withdrawn": "Record of withdrawn consent",
        "consent_revoked": "Record of revoked consent",
        "addendum_signed": "Signed data processing addendum",
        "addendum_revoked": "Revoked data processing addendum",
    }
    for kind, title in titles.items():
        assert f"<h1>{title}</h1>" in render_html(sample_context(kind, "en"))  # type: ignore[arg-type]


def test_labels_come_from_the_gettext_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = Catalog(locale="sv", domain="messages")
    catalog.add("Data subject", "Registrerad")
    catalog.add("Consent record", "Samtyckesbevis")
    target = tmp_path / "sv" / "LC_MESSAGES"
    target.mkdir(parents=True)
    with open(target / "messages.mo", "wb") as handle:
        write_mo(handle, catalog)
    monkeypatch.setattr(render, "TRANSLATIONS_DIR", tmp_path)
    render._translations.cache_clear()
    render._environment.cache_clear()
    try:
        html = render_html(sample_context("consent_given", "sv"))
    finally:
        render._translations.cache_clear()
        render._environment.cache_clear()
    assert "<h1>Samtyckesbevis</h1>" in html and "<h2>Registrerad</h2>" in html


def test_pdf_declares_pdfa_3b_and_embeds_every_font(record_pdf: bytes) -> None:
    with pikepdf.open(BytesIO(record_pdf)) as pdf:
        meta = pdf.open_metadata()
        assert meta.get("pdfaid:part") == "3" and meta.get("pdfaid:conformance") == "B"
        assert pdf.Root.OutputIntents[0].S == "/GTS_PDFA1"
        fonts = [f for page in pdf.pages for f in page.Resources.Font.values()]
        assert fonts
        for font in fonts:
            descriptor = font.DescendantFonts[0].FontDescriptor if "/DescendantFonts" in font else font.FontDescriptor
            assert "/FontFile2" in descriptor, f"{font.BaseFont} is not embedded"
            assert "Samtycke" in str(font.BaseFont)  # our @font-face, not a fontconfig pick


def test_pdf_has_no_interpolated_images(record_pdf: bytes) -> None:
    with pikepdf.open(BytesIO(record_pdf)) as pdf:
        images = [o for o in pdf.objects if isinstance(o, pikepdf.Stream) and o.get("/Subtype") == "/Image"]
        assert images, "the QR code should be an image"
        assert not any(bool(o.get("/Interpolate", False)) for o in images)
    assert b"/Interpolate true" not in record_pdf


def _attachment(pdf_bytes: bytes) -> tuple[bytes, Any]:
    with pikepdf.open(BytesIO(pdf_bytes)) as pdf:
        filespecs = [pdf.Root.AF[i] for i in range(len(pdf.Root.AF))]
        spec = next(s for s in filespecs if str(s.UF) == "evidence.json")
        facts = (str(spec.AFRelationship), str(spec.EF.F.Subtype))
        return spec.EF.F.read_bytes(), facts


def test_evidence_is_an_associated_file_equal_to_build_evidence_json(record_pdf: bytes, ctx: RecordContext) -> None:
    data, (relationship, subtype) = _attachment(record_pdf)
    assert relationship == "/Data"
    assert subtype == "/application/json"
    assert json.loads(data) == build_evidence_json(ctx)


def test_pdfdetach_extracts_the_evidence(
    record_pdf: bytes, ctx: RecordContext, write_pdf: Callable[..., Path], tool: Tool
) -> None:
    path = write_pdf(record_pdf)
    listing = tool("pdfdetach", "-list", str(path))
    assert "evidence.json" in listing.stdout
    out = path.with_name("evidence.json")
    tool("pdfdetach", "-save", "1", "-o", str(out), str(path))
    assert json.loads(out.read_bytes()) == build_evidence_json(ctx)


def test_evidence_json_follows_dpv(ctx: RecordContext) -> None:
    evidence = build_evidence_json(ctx)
    json.dumps(evidence)  # serialisable
    assert evidence["@type"] == "dpv:ConsentRecord"
    assert evidence["hasConsentStatus"] == "dpv:ConsentGiven"
    assert [p["hasIdentifier"] for p in evidence["hasPurpose"]] == ["web", "print", "social"]
    assert evidence["notice"]["textSha256"] == ctx.template.text_sha256
    assert evidence["notice"]["templateKey"] == "images-school" and evidence["notice"]["templateVersion"] == 3
    assert evidence["hasProvisionTime"] == "2025-03-01T13:03:12+00:00"  # ISO 8601 with offset
    assert evidence["signatures"] == ctx.evidence
    withdrawn = build_evidence_json(sample_context("consent_withdrawn", "en"))
    assert withdrawn["hasConsentStatus"] == "dpv:ConsentWithdrawn" and withdrawn["hasStatusTime"]


def test_naive_datetimes_are_refused() -> None:
    from dataclasses import replace
    from datetime import datetime

    with pytest.raises(InvalidRecordContext):
        replace(sample_context(), created_at=datetime(2025, 1, 1))


def test_fetcher_allows_data_and_package_files_only(tmp_path: Path) -> None:
    fetcher = RestrictedFetcher()
    assert fetcher.fetch("data:text/plain,hello").read() == b"hello"
    css = render.TEMPLATES_DIR / "record.css"
    assert fetcher.fetch(css.as_uri()).read() == css.read_bytes()
    secret = tmp_path / "secret.txt"
    secret.write_text("no")
    for url in (
        "https://example.com/tracker.png",
        "http://169.254.169.254/latest/meta-data/",
        secret.as_uri(),
        (render.TEMPLATES_DIR / ".." / ".." / "app" / "config.py").as_uri(),
        "file:///etc/passwd",
        "ftp://example.com/x",
    ):
        with pytest.raises(ValueError):
            fetcher.fetch(url)


def test_a_forbidden_resource_stops_the_rendering(monkeypatch: pytest.MonkeyPatch) -> None:
    # A record silently missing a resource would be worse than no record.
    monkeypatch.setattr(render, "qr_data_url", lambda text: "https://example.com/qr.png")
    with pytest.raises(RenderingFailed, match=r"example\.com"):
        render_pdf(sample_context())


def test_every_record_label_has_swedish_and_norwegian_text() -> None:
    # scripts/i18n merges reports/messages_sv_nb.json into the catalogs.
    from babel.messages.extract import extract_from_file

    msgids = {m[1] for m in extract_from_file("python", render.__file__)}
    msgids |= {m[1] for m in extract_from_file("jinja2", render.TEMPLATES_DIR / "record.html")}
    assert "Data subject" in msgids and "Consent record" in msgids
    texts = json.loads((Path(render.__file__).parent / "messages_sv_nb.json").read_text(encoding="utf-8"))
    missing = {m for m in msgids if not (texts.get(m, {}).get("sv") and texts.get(m, {}).get("nb"))}
    assert not missing, f"untranslated record labels: {sorted(missing)}"


@pytest.mark.parametrize(
    ("locale", "label"),
    [("en", "Norwegian fødselsnummer"), ("sv", "Norskt fødselsnummer"), ("nb", "Fødselsnummer")],
)
def test_a_subjects_number_is_named_in_its_countrys_word(locale: str, label: str) -> None:
    from dataclasses import replace

    from reports.context import SubjectInfo

    ctx = sample_context("consent_given", locale)  # type: ignore[arg-type]
    norwegian = replace(ctx, subject=SubjectInfo(
        name="Ola Nordmann", personal_number_masked="150786 *****", personal_number_country="NO"))
    html = render_html(norwegian)
    assert f"<dt>{label}</dt>\n    <dd>150786 *****</dd>" in html
    swedish = render_html(ctx)
    assert "fødselsnummer" not in swedish.lower()
