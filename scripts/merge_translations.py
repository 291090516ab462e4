"""Merge ``*messages_sv_nb.json`` files ({msgid: {"sv": ..., "nb": ...}}) into the catalogs.

With ``--report`` prints how many messages each catalog still lacks.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("app", "consent", "signing", "reports")


def load_json_translations() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for source in SOURCES:
        for path in sorted((ROOT / source).rglob("*messages_sv_nb.json")):
            for msgid, langs in json.loads(path.read_text(encoding="utf-8")).items():
                merged.setdefault(msgid, {}).update(langs)
    return merged


def main() -> None:
    catalogs = Path(sys.argv[1])
    report = "--report" in sys.argv
    extra = load_json_translations()
    for lang in ("sv", "nb", "en"):
        po = catalogs / lang / "LC_MESSAGES" / "messages.po"
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        missing = 0
        for message in catalog:
            if not message.id:
                continue
            if isinstance(message.id, tuple):
                # Plural entries keep {"sv": [one, many], "nb": [...], "plural": msgid_plural}.
                forms = (extra.get(message.id[0]) or {}).get(lang)
                if lang != "en" and not any(message.string) and isinstance(forms, list):
                    message.string = tuple(forms)
                if lang != "en" and not any(message.string):
                    missing += 1
                continue
            if lang == "en":
                continue  # English msgids are the English text
            if not message.string and message.id in extra and extra[message.id].get(lang):
                message.string = extra[message.id][lang]
            if not message.string:
                missing += 1
        if report:
            print(f"{lang}: {missing} untranslated")
        else:
            with po.open("wb") as fh:
                write_po(fh, catalog, width=100)


if __name__ == "__main__":
    main()
