"""The board's message catalogs: extract the message ids of its code and templates (Babel) and
bring `services/board/locale/*/LC_MESSAGES/messages.po` up to date, keeping every translation.

    python -m tools.board_catalog          update the catalogs, list what has no Dutch yet
    python -m tools.board_catalog --check  only report (exit 1 when a message has no Dutch)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

BOARD = Path(__file__).resolve().parent.parent / "services" / "board"
LOCALES = BOARD / "locale"
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def extracted() -> Catalog:
    catalog = Catalog(project="ThuisBest board")
    for filename, lineno, message, _comments, context in extract_from_dir(
        BOARD, METHODS, keywords=KEYWORDS, options_map=OPTIONS
    ):
        catalog.add(message, locations=[(filename, lineno)], context=context)
    return catalog


def po_path(language: str) -> Path:
    return LOCALES / language / "LC_MESSAGES" / "messages.po"


def read(language: str) -> Catalog:
    path = po_path(language)
    if not path.exists():
        return Catalog(locale=language, project="ThuisBest board")
    with path.open("rb") as source:
        return read_po(source, locale=language)


def untranslated(language: str, template: Catalog | None = None) -> list[str]:
    """The message ids of the code that the language's catalog does not translate (a plural
    message counts as translated when every form is)."""
    catalog = read(language)
    missing: list[str] = []
    for message in template or extracted():
        if not message.id:
            continue
        found = catalog.get(message.id)
        string = found.string if found is not None else ""
        forms = string if isinstance(string, tuple | list) else (string,)
        if not forms or not all(forms):
            missing.append(str(message.id))
    return missing


def update(language: str, template: Catalog) -> None:
    catalog = read(language)
    catalog.update(template, no_fuzzy_matching=True)
    catalog.fuzzy = False
    catalog.project, catalog.version = "ThuisBest board", "1"
    catalog.copyright_holder = "ThuisBest"
    catalog.msgid_bugs_address = ""
    catalog.last_translator = "ThuisBest"
    catalog.language_team = "ThuisBest"
    path = po_path(language)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        write_po(out, catalog, width=110, omit_header=False, ignore_obsolete=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="report only; exit 1 when Dutch is missing")
    args = parser.parse_args(argv)
    template = extracted()
    if not args.check:
        update("nl", template)
    missing = untranslated("nl", template)
    for message in missing:
        print(f"no Dutch yet: {message!r}")
    print(f"{len([m for m in template if m.id])} messages, {len(missing)} without Dutch")
    return 1 if missing and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
