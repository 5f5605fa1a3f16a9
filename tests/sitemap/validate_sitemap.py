"""Validates sitemap files against the sitemaps.org 0.9 schemas beside this
script (sitemap.xsd for a urlset, siteindex.xsd for an index) with lxml,
and checks what the schemas cannot: every loc is absolute (http or https),
and a file is at most 50,000 URLs and 52,428,800 bytes. Exits 1 naming each
bad file, 2 when lxml is missing.

    python3 validate_sitemap.py FILE...
"""
import pathlib
import sys
from urllib.parse import urlsplit

try:
    from lxml import etree
except ImportError:
    print("lxml is missing: python3 -m pip install lxml", file=sys.stderr)
    sys.exit(2)

HERE = pathlib.Path(__file__).resolve().parent
NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
schemas = {
    NS + "urlset": etree.XMLSchema(etree.parse(str(HERE / "sitemap.xsd"))),
    NS + "sitemapindex": etree.XMLSchema(etree.parse(str(HERE / "siteindex.xsd"))),
}
bad = 0
for name in sys.argv[1:]:
    path = pathlib.Path(name)
    data = path.read_bytes()
    problems = []
    try:
        document = etree.fromstring(data)
    except etree.XMLSyntaxError as error:
        problems.append(f"not well-formed: {error}")
        document = None
    if document is not None:
        schema = schemas.get(document.tag)
        if schema is None:
            problems.append(f"root element {document.tag} is not a sitemap's")
        elif not schema.validate(document):
            problems.extend(str(e) for e in schema.error_log)
        locs = [e.text or "" for e in document.iter(NS + "loc")]
        for loc in locs:
            parts = urlsplit(loc)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                problems.append(f"loc is not an absolute http(s) URL: {loc}")
        if len(locs) > 50000:
            problems.append(f"{len(locs)} URLs, more than 50,000")
    if len(data) > 52428800:
        problems.append(f"{len(data)} bytes, more than 52,428,800")
    for problem in problems:
        print(f"{path}: {problem}")
    bad += bool(problems)
    if not problems:
        print(f"{path}: valid")
sys.exit(1 if bad else 0)
