"""Every console text has a Swedish and a Norwegian Bokmål translation waiting for the catalogues."""

from __future__ import annotations

import json
import re
from pathlib import Path

from babel.messages.extract import extract_from_dir

ROOT = Path(__file__).resolve().parents[3]
_PAGES = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
# The console's texts live with the package that shows them, each beside its own messages_sv_nb.json.
PARTS = {
    ROOT / "app" / "staff": _PAGES,
    ROOT / "consent" / "console": _PAGES,
    ROOT / "reports": [("console.py", "python"), ("web_templates/console/**.html", "jinja2")],
}
KEYWORDS = {"_": None, "gettext": None, "lazy_gettext": None, "_l": None, "ngettext": (1, 2)}
PLACEHOLDER = re.compile(r"%\(\w+\)s")


def _msgids(directory: Path, method_map: list[tuple[str, str]]) -> list[str | tuple[str, str]]:
    found: list[str | tuple[str, str]] = []
    for _file, _line, message, _comments, _context in extract_from_dir(str(directory), method_map, keywords=KEYWORDS):
        if message not in found:
            found.append(message)
    return found


def test_every_console_msgid_has_sv_and_nb() -> None:
    every: set[str | tuple[str, str]] = set()
    missing = []
    for directory, method_map in PARTS.items():
        table = json.loads((directory / "messages_sv_nb.json").read_text(encoding="utf-8"))
        msgids = _msgids(directory, method_map)
        every.update(msgids)
        for msgid in msgids:
            key = msgid[0] if isinstance(msgid, tuple) else msgid
            entry = table.get(key)
            if not entry or not entry.get("sv") or not entry.get("nb"):
                missing.append(key)
                continue
            wanted = set(PLACEHOLDER.findall(key))
            for lang in ("sv", "nb"):
                texts = entry[lang] if isinstance(entry[lang], list) else [entry[lang]]
                if isinstance(msgid, tuple):
                    assert len(texts) == 2, (key, lang)
                    assert entry["plural"] == msgid[1]
                for text in texts:
                    assert set(PLACEHOLDER.findall(text)) == wanted, (key, lang, text)
    assert len(every) > 300
    assert not missing, missing
