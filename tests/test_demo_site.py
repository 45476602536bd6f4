"""The bundled demo encyclopedia and its HTTP server.

Later stages (crawl, extraction, graph, task synthesis) trust this corpus to be well-formed and fully
reachable, and trust its traps (redirects, red link, PNG, robots-disallowed page) to be exactly the
ones planted; these tests keep both promises checked.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import urllib.parse
import urllib.request
import urllib.robotparser
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import lxml.html
import pytest

from drsynth.synth.corpus.demo import (
    BINARY_PATHS,
    DEMO_HOST,
    ENCYCLOPEDIA_NAME,
    NON_ARTICLE_PAGES,
    PRIVATE_PREFIX,
    RED_LINKS,
    SITE_DIR,
)
from drsynth.synth.corpus.demo.server import DemoSiteServer

WIKI = SITE_DIR / "wiki"
SITE_ROOT = f"http://{DEMO_HOST}"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def article_files() -> list[Path]:
    return sorted(p for p in WIKI.glob("*.html") if p.stem not in NON_ARTICLE_PAGES)


def wiki_path(title_stem: str) -> str:
    return f"/wiki/{title_stem}"


def redirects() -> dict[str, str]:
    return json.loads((SITE_DIR / "_redirects.json").read_text(encoding="utf-8"))


def parse(path: Path) -> lxml.html.HtmlElement:
    return lxml.html.fromstring(path.read_bytes())


def page_url(path: Path) -> str:
    if path == SITE_DIR / "index.html":
        return SITE_ROOT + "/"
    return SITE_ROOT + wiki_path(path.stem)


def links_of(path: Path) -> Iterator[str]:
    """Absolute URLs of every <a href> on a page, resolved against its URL on DEMO_HOST."""
    base = page_url(path)
    for href in parse(path).xpath("//a/@href"):
        yield urllib.parse.urljoin(base, href)


def site_path(url: str) -> str | None:
    """The unquoted path of an on-site URL (query and fragment dropped); None when off-site."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.netloc != DEMO_HOST:
        return None
    return urllib.parse.unquote(parts.path) or "/"


# -- the static site ---------------------------------------------------------------------------------


def test_enough_articles_with_wiki_structure() -> None:
    files = article_files()
    assert len(files) >= 64
    for f in files:
        doc = parse(f)
        assert doc.get("lang") == "en", f.name
        title = doc.findtext(".//title")
        assert title and title.endswith(f" — {ENCYCLOPEDIA_NAME}"), f.name
        assert doc.xpath("//meta[@name='description']/@content"), f.name
        modified = doc.xpath("//meta[@property='article:modified_time']/@content")
        assert modified and modified[0].startswith("2025-"), f.name
        assert doc.xpath("//link[@rel='canonical']/@href") == [wiki_path(f.stem)], f.name
        h1 = doc.xpath("//main//h1")
        assert len(h1) == 1 and h1[0].text_content().replace(" ", "_") == f.stem, f.name
        # the lead names its subject in bold, as extraction of aliases expects
        lead = doc.xpath("//div[@id='bodyContent']/p[1]")[0]
        assert lead.xpath(".//b"), f.name
        assert len(doc.xpath("//main//h2[not(@class)]")) >= 2, f.name
        # a lead and at least three paragraphs of body prose
        assert len(doc.xpath("//div[@id='bodyContent']/p")) >= 4, f.name
        # boilerplate that extraction has to strip is really there
        assert doc.xpath("//header[@id='site-header']//nav") and doc.xpath("//footer"), f.name


def test_articles_are_densely_interlinked() -> None:
    redirect_map = redirects()
    for f in article_files():
        targets = set()
        for url in links_of(f):
            path = site_path(url)
            if path is None or not path.startswith("/wiki/"):
                continue
            path = redirect_map.get(path, path)
            if path.removeprefix("/wiki/") not in NON_ARTICLE_PAGES and path != wiki_path(f.stem):
                targets.add(path)
        assert len(targets) >= 4, f"{f.name} links to only {len(targets)} other articles"


def test_every_internal_link_resolves() -> None:
    redirect_map = redirects()
    existing_wiki = {wiki_path(p.stem) for p in WIKI.glob("*.html")}
    pages = [*WIKI.glob("*.html"), SITE_DIR / "index.html"]
    broken = []
    for page in pages:
        for url in links_of(page):
            path = site_path(url)
            if path is None:
                continue  # mailto: and off-site links are not the site's business
            if path in redirect_map:
                path = redirect_map[path]
            ok = (
                path in existing_wiki
                or path == "/"
                or path in RED_LINKS
                or path in BINARY_PATHS
                or path.startswith(PRIVATE_PREFIX)
                or path.startswith("/w/")  # edit links, robots-disallowed as on Wikipedia
            )
            if not ok:
                broken.append(f"{page.name}: {url}")
    assert not broken, broken


def test_planted_traps_and_url_variants_are_present() -> None:
    """Each kind of trouble the crawler and entity resolver must handle occurs at least once."""
    raw_hrefs: list[str] = []
    resolved: list[str] = []
    for page in [*WIKI.glob("*.html"), SITE_DIR / "index.html"]:
        raw_hrefs += parse(page).xpath("//a/@href")
        resolved += list(links_of(page))
    paths = {site_path(u) for u in resolved}
    assert paths >= RED_LINKS
    assert paths >= BINARY_PATHS
    assert any(p and p.startswith(PRIVATE_PREFIX) for p in paths)
    assert set(redirects()) <= paths, "every redirect alias is used by some link"
    assert any(h.startswith("/wiki/") and "#" in h for h in raw_hrefs)
    assert any(h.startswith("/wiki/") and "?" in h for h in raw_hrefs)
    assert any(h.startswith("../wiki/") for h in raw_hrefs)
    assert any(not h.startswith(("/", "#", "http", "mailto:", "../")) for h in raw_hrefs)
    assert any(h.startswith(f"http://{DEMO_HOST}/wiki/") for h in raw_hrefs)
    assert any(h.startswith("http") and DEMO_HOST not in h for h in raw_hrefs), "an off-site link"
    assert any(h.startswith("mailto:") for h in raw_hrefs)


def test_redirect_targets_exist_and_aliases_do_not() -> None:
    redirect_map = redirects()
    assert len(redirect_map) >= 4
    for alias, target in redirect_map.items():
        assert (WIKI / f"{target.removeprefix('/wiki/')}.html").is_file(), target
        assert not (WIKI / f"{alias.removeprefix('/wiki/')}.html").exists(), alias
        assert target not in redirect_map, "no redirect chains"


def test_red_links_have_no_page() -> None:
    for path in RED_LINKS:
        assert not (WIKI / f"{path.removeprefix('/wiki/')}.html").exists()


def test_infoboxes_and_data_tables() -> None:
    files = article_files()
    with_infobox = 0
    with_table = 0
    for f in files:
        doc = parse(f)
        boxes = doc.xpath("//table[contains(concat(' ', @class, ' '), ' infobox ')]")
        if boxes:
            with_infobox += 1
            box = boxes[0]
            assert box.findtext("caption"), f.name
            assert len(box.xpath(".//tr/th[@scope='row']")) >= 3, f.name
        for table in doc.xpath("//table[contains(concat(' ', @class, ' '), ' wikitable ')]"):
            with_table += 1
            assert table.findtext("caption"), f.name
            assert table.xpath(".//thead/tr/th"), f.name
            assert len(table.xpath(".//tbody/tr")) >= 2, f.name
    assert with_infobox / len(files) >= 0.8
    assert with_table >= 3


def test_static_assets() -> None:
    robots = (SITE_DIR / "robots.txt").read_text(encoding="utf-8")
    assert "User-agent: *" in robots and "Disallow: /private/" in robots
    png = (SITE_DIR / "files" / "map_of_the_realm.png").read_bytes()
    assert png.startswith(PNG_SIGNATURE) and 100 < len(png) < 2048
    assert (SITE_DIR / "private" / "drafts.html").is_file()
    total = sum(p.stat().st_size for p in SITE_DIR.rglob("*") if p.is_file())
    assert total < 1_500_000


# -- the server ----------------------------------------------------------------------------------------


def fetch(srv: DemoSiteServer, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    # http.client sends the path verbatim, which the traversal tests need (no client-side normalising)
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        conn.request(method, path, headers={"Host": DEMO_HOST})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def server() -> Iterator[DemoSiteServer]:
    with DemoSiteServer(site_dir=SITE_DIR, host="127.0.0.1", port=0) as srv:
        yield srv


def test_server_basics(server: DemoSiteServer) -> None:
    assert server.base_url == f"http://127.0.0.1:{server.port}"
    status, headers, body = fetch(server, "/")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert b"/wiki/Index" in body

    status, headers, body = fetch(server, "/wiki/Estavia")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert int(headers["content-length"]) == len(body)
    for variant in ("/wiki/Estavia?ref=nav", "/wiki/Estavia/", "/wiki/Estavia?a=1&b=2"):
        assert fetch(server, variant)[2] == body, variant
    # titles with reserved characters arrive percent-encoded
    assert fetch(server, "/wiki/Symphony_No._2_%28Fennick%29")[0] == 200
    assert fetch(server, "/wiki/Our_Island%2C_Our_Light")[0] == 200

    status, headers, body = fetch(server, "/wiki/Estavia", method="HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0


def test_server_is_quiet(server: DemoSiteServer, capfd: pytest.CaptureFixture[str]) -> None:
    before = server.hits["/wiki/Estavia"]
    fetch(server, "/wiki/Estavia")
    fetch(server, "/wiki/No_Such_Page")
    assert server.hits["/wiki/Estavia"] == before + 1
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


def test_server_redirects(server: DemoSiteServer) -> None:
    for alias, target in redirects().items():
        status, headers, _ = fetch(server, alias)
        assert status == 301 and headers["location"] == target, alias
        assert fetch(server, alias + "?ref=nav")[0] == 301
        assert fetch(server, target)[0] == 200


def test_server_not_found_robots_png(server: DemoSiteServer) -> None:
    for missing in [*RED_LINKS, "/wiki/No_Such_Page", "/nope.html", "/wiki/", "/files/"]:
        status, headers, body = fetch(server, missing)
        assert status == 404, missing
        assert headers["content-type"] == "text/html; charset=utf-8" and b"Not Found" in body

    status, headers, body = fetch(server, "/robots.txt")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    assert b"Disallow: /private/" in body

    status, headers, body = fetch(server, next(iter(BINARY_PATHS)))
    assert status == 200 and headers["content-type"] == "image/png"
    assert body.startswith(PNG_SIGNATURE)

    assert fetch(server, "/static/halvard.css")[1]["content-type"].startswith("text/css")
    # server configuration is not content
    assert fetch(server, "/_redirects.json")[0] == 404


@pytest.mark.parametrize(
    "path",
    [
        "/../server.py",
        "/../../../../etc/passwd",
        "/%2e%2e/server.py",
        "/%2E%2E/%2E%2E/__init__.py",
        "/wiki/..%2f..%2fserver",
        "/wiki/../../server.py",
        "/files/..%2f..%2fserver.py",
        "/files/%2e%2e/%2e%2e/server.py",
        "/..%5c..%5cserver.py",
        "/wiki/..%00",
        "//etc/passwd",
    ],
)
def test_server_refuses_path_traversal(server: DemoSiteServer, path: str) -> None:
    status, _, body = fetch(server, path)
    assert status in (400, 403, 404)
    assert b"DemoSiteServer" not in body and b"root:" not in body


def test_module_entry_point_serves() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "drsynth.synth.corpus.demo.server", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        base_url = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert base_url, line
        with urllib.request.urlopen(base_url.group(0) + "/wiki/Index", timeout=10) as resp:
            assert resp.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_every_article_reachable_within_depth_2_by_a_polite_crawl() -> None:
    """Breadth-first crawl from / over HTTP, obeying robots.txt and following redirects."""
    with DemoSiteServer() as srv:
        robots = urllib.robotparser.RobotFileParser()
        robots.parse(fetch(srv, "/robots.txt")[2].decode().splitlines())

        depth_of: dict[str, int] = {}
        queue: deque[tuple[str, int]] = deque([("/", 0)])
        seen: set[str] = {"/"}
        while queue:
            path, depth = queue.popleft()
            status, headers, body = fetch(srv, path)
            hops = 0
            while status == 301 and hops < 5:
                path = urllib.parse.unquote(urllib.parse.urlsplit(headers["location"]).path)
                status, headers, body = fetch(srv, path)
                hops += 1
            if status != 200 or not headers["content-type"].startswith("text/html"):
                continue
            depth_of.setdefault(path, depth)
            if depth == 2:
                continue
            base = SITE_ROOT + path
            for href in lxml.html.fromstring(body).xpath("//a/@href"):
                target = site_path(urllib.parse.urljoin(base, href))
                if target is None or target in seen:
                    continue
                if not robots.can_fetch("drsynth-test", SITE_ROOT + target):
                    continue
                seen.add(target)
                queue.append((target, depth + 1))

        unreached = [f.stem for f in article_files() if wiki_path(f.stem) not in depth_of]
        assert not unreached, unreached
        assert srv.hits["/private/drafts.html"] == 0
        assert not any(p.startswith(PRIVATE_PREFIX) for p in srv.hits)
        assert srv.hits["/"] >= 1 and srv.hits["/wiki/Index"] >= 1
