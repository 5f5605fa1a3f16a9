"""Parses every HTML file under a directory (an export) with html5lib in
strict mode: any parse error (a stray end tag, a bad attribute, a missing
doctype) fails. Exits 1 naming each bad file, 2 when html5lib is missing.

    python3 validate_html.py EXPORT_DIR
"""
import pathlib
import sys

try:
    import html5lib
except ImportError:
    print("html5lib is missing: python3 -m pip install html5lib", file=sys.stderr)
    sys.exit(2)

root = pathlib.Path(sys.argv[1])
pages = sorted(root.rglob("*.html"))
if not pages:
    print(f"no HTML file under {root}", file=sys.stderr)
    sys.exit(1)
bad = 0
for page in pages:
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    try:
        parser.parse(page.read_bytes(), transport_encoding="utf-8")
    except Exception as error:  # html5lib raises ParseError, with the position in parser.errors
        bad += 1
        print(f"{page}: {error} {parser.errors}")
print(f"{len(pages) - bad} of {len(pages)} pages parse in strict mode")
sys.exit(1 if bad else 0)
