"""The crawler against real HTTP servers on 127.0.0.1, and the address policy without any network.

Politeness and safety are asserted on the server side (hit counts, arrival times, requests in
flight), because that is where they matter.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from drsynth.storage.schemas import schema_for
from drsynth.synth.corpus import netguard
from drsynth.synth.corpus.crawler import (
    CrawlConfig,
    Crawler,
    canonicalize_url,
    extract_links,
    parse_robots,
)

pytestmark = pytest.mark.timeout(30)

# --- a scriptable local web server ---------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str | None = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to sleep before answering


Route = Reply | Callable[[int], Reply] | Callable[[BaseHTTPRequestHandler], None]


def html(*links: str, title: str = "page") -> Reply:
    anchors = "".join(f'<a href="{href}">{href}</a>\n' for href in links)
    return Reply(body=f"<html><head><title>{title}</title></head><body>{anchors}</body></html>".encode())


def redirect(location: str, status: int = 302) -> Reply:
    return Reply(status=status, headers={"Location": location}, content_type=None)


@dataclass
class Hit:
    path: str
    at: float
    host: str


class Site:
    """ThreadingHTTPServer on 127.0.0.1:0 serving `routes`; unknown paths get 404."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self.hits: list[Hit] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.aborted = threading.Event()
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def count(self, path: str) -> int:
        return self._counts[path]

    def times(self, *, exclude: tuple[str, ...] = ()) -> list[float]:
        return [hit.at for hit in self.hits if hit.path not in exclude]

    def page_hits(self) -> int:
        return sum(n for path, n in self._counts.items() if path != "/robots.txt")

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stalls

            def do_GET(self) -> None:
                site._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self._counts[handler.path] += 1
            number = self._counts[handler.path]
            self.hits.append(Hit(handler.path, time.monotonic(), handler.headers.get("Host", "")))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            route = self.routes.get(handler.path, Reply(404, b"not found", "text/plain"))
            if isinstance(route, Reply):
                self._send(handler, route)
                return
            result = route(number) if _takes_number(route) else route(handler)  # type: ignore[arg-type]
            if isinstance(result, Reply):
                self._send(handler, result)
        except (BrokenPipeError, ConnectionResetError):
            self.aborted.set()
        finally:
            with self._lock:
                self.in_flight -= 1

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.delay:
            time.sleep(reply.delay)
        handler.send_response(reply.status)
        if reply.content_type:
            handler.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(reply.body)))
        handler.end_headers()
        handler.wfile.write(reply.body)


def _takes_number(route: Callable[..., Any]) -> bool:
    return getattr(route, "takes_number", True)


def raw(fn: Callable[[BaseHTTPRequestHandler], None]) -> Callable[[BaseHTTPRequestHandler], None]:
    """Mark a route that writes the response itself."""
    fn.takes_number = False  # type: ignore[attr-defined]
    return fn


@pytest.fixture
def serve() -> Iterator[Callable[[dict[str, Route]], Site]]:
    sites: list[Site] = []

    def start(routes: dict[str, Route]) -> Site:
        sites.append(Site(routes))
        return sites[-1]

    yield start
    for site in sites:
        site.stop()


def fast(**overrides: Any) -> CrawlConfig:
    """A config for loopback tests: no politeness delays unless a test asks for them."""
    settings: dict[str, Any] = {
        "allow_private": True,
        "rate_per_host": 1000.0,
        "backoff_base_s": 0.01,
        "timeout_s": 2.0,
        "per_host_concurrency": 4,
    }
    return CrawlConfig(**{**settings, **overrides})


@dataclass
class Result:
    pages: list[dict]
    quarantine: list[dict]
    stats: Counter[str]
    redirects: list[dict]

    def reasons(self) -> list[str]:
        return [row["reason"] for row in self.quarantine]

    def by_url(self) -> dict[str, dict]:
        return {row["url"]: row for row in self.pages}


def crawl(config: CrawlConfig, *seeds: str) -> Result:
    crawler = Crawler(config)
    rows: dict[str, list[dict]] = {"pages": [], "quarantine": [], "redirects": []}
    for dataset, row in crawler.crawl_sync(list(seeds)):
        rows[dataset].append(row)
    return Result(rows["pages"], rows["quarantine"], crawler.stats, rows["redirects"])


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(sorted(times))]


# --- netguard: no network ------------------------------------------------------------------------

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("2130706433", "loopback"),  # decimal
    ("0x7f000001", "loopback"),  # hex
    ("0177.0.0.1", "loopback"),  # octal
    ("127.1", "loopback"),  # short form
    ("::1", "loopback"),
    ("[::1]", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped IPv6
    ("[::ffff:7f00:1]", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("::ffff:192.168.1.1", "private"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("64:ff9b::a00:1", "private"),  # NAT64 to 10.0.0.1
    ("2002:c0a8:101::", "private"),  # 6to4 of 192.168.1.1
    ("169.254.169.254", "link-local"),  # cloud metadata
    ("fe80::1", "link-local"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("0", "unspecified"),
    ("::", "unspecified"),
    ("240.0.0.1", "private"),  # reserved class E; Python files it under is_private
    ("100.64.0.1", "non-global"),  # carrier-grade NAT
]


@pytest.mark.parametrize(("host", "category"), REFUSED)
def test_netguard_refuses_internal_literals(host: str, category: str) -> None:
    reason = netguard.check_address(host, 80, allow_private=False)
    assert reason is not None and reason.startswith(category), reason
    assert netguard.check_address(host, 80, allow_private=True) is None


@pytest.mark.parametrize("host", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "[2001:4860::8888]"])
def test_netguard_allows_public_literals(host: str) -> None:
    assert netguard.check_address(host, 443, allow_private=False) is None


def test_netguard_reason_names_the_address() -> None:
    assert netguard.check_address("127.0.0.1", 80, allow_private=False) == "loopback address 127.0.0.1"
    assert netguard.check_address("2130706433", 80, allow_private=False) == "loopback address 127.0.0.1"


def test_netguard_parses_every_ipv4_spelling() -> None:
    expected = ipaddress.IPv4Address("127.0.0.1")
    for spelling in ["2130706433", "0x7f000001", "0x7F.1", "0177.0.0.1", "127.1", "127.0.1", "127.0.0.1."]:
        assert netguard.parse_ipv4_literal(spelling) == expected, spelling
    assert netguard.parse_ipv4_literal("example.com") is None
    assert netguard.parse_ipv4_literal("1.2.3.4.5") is None
    with pytest.raises(ValueError):
        netguard.parse_ipv4_literal("256.1.1.1")
    with pytest.raises(ValueError):
        netguard.parse_ipv4_literal("4294967296")


def _fake_getaddrinfo(*addresses: str) -> Callable[..., list[tuple[Any, ...]]]:
    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        infos = []
        for address in addresses:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            infos.append((family, socket.SOCK_STREAM, 6, "", (address, port)))
        return infos

    return getaddrinfo


def test_netguard_refuses_a_name_if_any_address_is_internal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netguard.socket, "getaddrinfo", _fake_getaddrinfo("93.184.216.34", "10.0.0.7"))
    reason = netguard.check_address("rebind.example", 80, allow_private=False)
    assert reason == "rebind.example resolves to private address 10.0.0.7"
    async_reason = asyncio.run(netguard.check_address_async("rebind.example", 80, allow_private=False))
    assert async_reason == reason
    # explicitly exempt hosts (an intranet source) pass
    assert netguard.check_address("rebind.example", 80, allow_private=False,
                                  allowed_hosts=["REBIND.example"]) is None


def test_netguard_allows_a_name_with_only_public_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netguard.socket, "getaddrinfo", _fake_getaddrinfo("93.184.216.34", "2606:2800::1"))
    assert netguard.check_address("public.example", 80, allow_private=False) is None


def test_netguard_unresolvable_name_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(netguard.socket, "getaddrinfo", fail)
    reason = netguard.check_address("nowhere.invalid", 80, allow_private=False)
    assert reason is not None and reason.startswith("cannot resolve nowhere.invalid")


def test_resolve_targets_parse() -> None:
    assert netguard.parse_resolve_target("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert netguard.parse_resolve_target("[::1]:8080") == ("::1", 8080)
    assert netguard.parse_resolve_target("10.0.0.1") == ("10.0.0.1", None)
    with pytest.raises(ValueError):
        netguard.parse_resolve_target("127.0.0.1:99999")


# --- URLs, links, robots, config: no network -----------------------------------------------------


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTP://Example.COM:80/a/./b/../c?q=%7e&x=%2f#frag", "http://example.com/a/c?q=~&x=%2F"),
        ("https://example.com:443", "https://example.com/"),
        ("https://example.com:8443/", "https://example.com:8443/"),
        ("http://example.com/%7Euser/%e2%82%ac", "http://example.com/~user/%E2%82%AC"),
        ("http://example.com/a b/ü", "http://example.com/a%20b/%C3%BC"),
        ("http://user:secret@example.com/", "http://example.com/"),
        ("http://2130706433/", "http://127.0.0.1/"),
        ("http://[::FFFF:127.0.0.1]:8080/", "http://[::ffff:7f00:1]:8080/"),
        ("http://bücher.example/", "http://xn--bcher-kva.example/"),
        ("http://example.com/?b=2&a=1", "http://example.com/?b=2&a=1"),  # query order is meaning
    ],
)
def test_canonicalize_url(url: str, canonical: str) -> None:
    assert canonicalize_url(url) == canonical


@pytest.mark.parametrize("url", ["ftp://example.com/", "javascript:alert(1)", "/relative", "http:///nohost",
                                 "http://example.com:99999/", "http://exa mple.com/"])
def test_canonicalize_url_rejects(url: str) -> None:
    with pytest.raises(ValueError):
        canonicalize_url(url)


def test_extract_links_resolves_base_and_skips_non_http() -> None:
    body = b"""<html><head><base href="/docs/"></head><body>
      <a href="intro.html#top">intro</a> <a href="intro.html">again</a>
      <a href="javascript:void(0)">js</a> <a href="mailto:a@b.c">mail</a> <a href="tel:+1">tel</a>
      <a href="data:text/html,hi">data</a> <a href="#frag">frag</a> <a>no href</a>
      <a rel="nofollow" href="HTTP://Other.Example:80/x">nofollow</a>
      <a href="ftp://example.com/file">ftp</a></body></html>"""
    links = extract_links(body, "http://site.example/a/b/page.html")
    assert links == ["http://site.example/docs/intro.html", "http://other.example/x"]
    assert extract_links(b"", "http://site.example/") == []


def test_robots_groups_longest_match_and_wildcards() -> None:
    rules = parse_robots(
        "User-agent: *\nDisallow: /\n\n"
        "User-agent: DrSynth\nUser-agent: other\nDisallow: /private\nAllow: /private/open$\n"
        "Disallow: /*.pdf$\nCrawl-delay: 0.5\n",
        "drsynth/0.1 (+https://github.com/drsynth/drsynth)",
    )
    assert rules.crawl_delay == 0.5
    allowed = {path: rules.allows(path) for path in
               ["/", "/private", "/private/x", "/private/open", "/private/open/x", "/a.pdf", "/a.pdf?x=1"]}
    assert allowed == {"/": True, "/private": False, "/private/x": False, "/private/open": True,
                       "/private/open/x": False, "/a.pdf": False, "/a.pdf?x=1": True}
    star = parse_robots("User-agent: *\nDisallow: /tmp/\nAllow: /tmp/\n", "othercrawler/1.0")
    assert star.allows("/tmp/x")  # equal length: allow wins
    assert parse_robots("", "drsynth").allows("/anything")


def test_config_from_dict() -> None:
    config = CrawlConfig.from_dict({"max_depth": 1, "allowed_content_types": ["text/html"],
                                    "resolve": {"a.drsynth.test": "127.0.0.1:8000"}, "rate_per_host": 2})
    assert config.allowed_content_types == ("text/html",)
    assert config.rate_per_host == 2.0
    with pytest.raises(ValueError, match=r"max_deth\n  Extra inputs are not permitted"):
        CrawlConfig.from_dict({"max_deth": 2})
    with pytest.raises(ValueError, match=r"max_pages\n  Input should be a valid integer"):
        CrawlConfig.from_dict({"max_pages": "10"})
    with pytest.raises(ValueError, match=r"rate_per_host\n  Input should be greater than 0"):
        CrawlConfig(rate_per_host=0)
    with pytest.raises(ValueError, match=r"\[crawl\] resolve: bad resolve target"):
        CrawlConfig(resolve={"a.test": "127.0.0.1:http"})
    with pytest.raises(ValueError, match=r"\[crawl\] private_hosts: .*the port must be a number"):
        CrawlConfig(private_hosts=["wiki.intranet:http"])
    with pytest.raises(ValueError, match="allowed_content_types"):
        CrawlConfig(allowed_content_types=[])
    with pytest.raises(ValueError, match="max_depth"):
        CrawlConfig(max_depth=-1)
    assert CrawlConfig(allowed_hosts=["Wiki.Test"]).allowed_hosts == ("wiki.test",)


# --- crawling -------------------------------------------------------------------------------------


def test_crawls_links_once_and_rows_match_schema(serve: Callable[[dict[str, Route]], Site]) -> None:
    site = serve({
        "/": html("/a", "/b", "/a#section", "/./a", "/b?"),
        "/a": html("/", "/b"),
        "/b": html("/a"),
    })
    result = crawl(fast(), f"{site.url}/")
    urls = [row["url"] for row in result.pages]
    assert urls[0] == f"{site.url}/"
    assert sorted(urls) == sorted(f"{site.url}{p}" for p in ["/", "/a", "/b"])
    assert all(site.count(path) == 1 for path in ["/", "/a", "/b", "/robots.txt"])
    assert result.quarantine == []
    row = result.by_url()[f"{site.url}/a"]
    assert (row["status"], row["depth"], row["source"], row["source_kind"]) == (200, 1, f"{site.url}/", "crawl")
    assert row["content_type"].startswith("text/html") and row["final_url"] == row["url"]
    assert json.loads(row["headers"])["content-type"].startswith("text/html")
    assert row["body"].startswith(b"<html>")
    fields = set(schema_for("pages").names) - {"run_id"}
    assert set(row) == fields
    assert result.stats["fetched"] == 3 and result.stats["robots_fetched"] == 1


def test_robots_disallow_is_obeyed(serve: Callable[[dict[str, Route]], Site]) -> None:
    robots = "User-agent: *\nDisallow: /\n\nUser-agent: drsynth\nDisallow: /private\n"
    site = serve({
        "/robots.txt": Reply(body=robots.encode(), content_type="text/plain"),
        "/": html("/private/secret", "/public"),
        "/public": html("/private"),
    })
    result = crawl(fast(), f"{site.url}/")
    assert site.count("/private/secret") == 0 and site.count("/private") == 0
    assert site.count("/public") == 1 and site.count("/robots.txt") == 1
    assert sorted(row["source"] for row in result.quarantine) == [f"{site.url}/private", f"{site.url}/private/secret"]
    assert set(result.reasons()) == {"robots"}
    assert result.stats["robots_blocked"] == 2
    row = result.quarantine[0]
    assert set(row) == set(schema_for("quarantine").names) - {"run_id"} and row["stage"] == "crawl"


def test_unreachable_robots_disallows_the_site(serve: Callable[[dict[str, Route]], Site]) -> None:
    site = serve({"/robots.txt": Reply(503, b"down", "text/plain"), "/": html()})
    result = crawl(fast(retries=1), f"{site.url}/")
    assert site.count("/") == 0 and site.count("/robots.txt") == 2  # retried once, then gave up
    assert result.reasons() == ["robots"] and "503" in result.quarantine[0]["detail"]


def test_robots_can_be_ignored(serve: Callable[[dict[str, Route]], Site]) -> None:
    site = serve({"/robots.txt": Reply(body=b"User-agent: *\nDisallow: /", content_type="text/plain"),
                  "/": html()})
    result = crawl(fast(obey_robots=False), f"{site.url}/")
    assert len(result.pages) == 1 and site.count("/robots.txt") == 0


def test_crawl_delay_is_respected(serve: Callable[[dict[str, Route]], Site]) -> None:
    site = serve({
        "/robots.txt": Reply(body=b"User-agent: *\nCrawl-delay: 0.25\n", content_type="text/plain"),
        "/": html("/1", "/2", "/3"),
        "/1": html(), "/2": html(), "/3": html(),
    })
    result = crawl(fast(rate_per_host=100.0), f"{site.url}/")
    assert len(result.pages) == 4
    assert min(gaps(site.times(exclude=("/robots.txt",)))) >= 0.23


def test_rate_limit_per_host(serve: Callable[[dict[str, Route]], Site]) -> None:
    pages = [f"/{i}" for i in range(6)]
    site = serve({"/": html(*pages), **{p: html() for p in pages}})
    started = time.monotonic()
    result = crawl(fast(rate_per_host=10.0, per_host_concurrency=4), f"{site.url}/")
    assert len(result.pages) == 7
    spacing = gaps(site.times())  # robots.txt included: it is a request to the host too
    assert len(spacing) == 7 and min(spacing) >= 0.085, spacing
    assert time.monotonic() - started < 2.0


def test_per_host_concurrency_is_never_exceeded(serve: Callable[[dict[str, Route]], Site]) -> None:
    pages = [f"/slow{i}" for i in range(8)]
    site = serve({"/": html(*pages), **{p: Reply(body=b"<html></html>", delay=0.15) for p in pages}})
    result = crawl(fast(per_host_concurrency=2, concurrency=16), f"{site.url}/")
    assert len(result.pages) == 9
    assert site.max_in_flight == 2  # the cap held, and was used


def test_loopback_refused_unless_allowed(serve: Callable[[dict[str, Route]], Site]) -> None:
    site = serve({"/": html()})
    for obey_robots in (True, False):  # refused at connect time, robots.txt or not
        result = crawl(fast(allow_private=False, obey_robots=obey_robots), f"{site.url}/")
        assert result.pages == [] and result.reasons() == ["address_refused"]
        assert "loopback address 127.0.0.1" in result.quarantine[0]["detail"]
    assert site.hits == []
    allowed = crawl(fast(allow_private=True), f"{site.url}/")
    assert len(allowed.pages) == 1


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "[::ffff:127.0.0.1]", "[::1]", "localhost"])
def test_disguised_loopback_seeds_refused(serve: Callable[[dict[str, Route]], Site], host: str) -> None:
    site = serve({"/": html()})
    result = crawl(fast(allow_private=False), f"http://{host}:{site.port}/")
    assert result.reasons() == ["address_refused"] and site.hits == []


def test_names_are_checked_on_what_they_resolve_to(
    serve: Callable[[dict[str, Route]], Site], monkeypatch: pytest.MonkeyPatch
) -> None:
    site = serve({"/": html("/a"), "/a": html()})
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if host == "innocent.drsynth.test":  # a public-looking name whose DNS points inside
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    seed = f"http://innocent.drsynth.test:{site.port}/"
    refused = crawl(fast(allow_private=False), seed)
    assert refused.reasons() == ["address_refused"] and site.hits == []
    assert "innocent.drsynth.test resolves to loopback address 127.0.0.1" in refused.quarantine[0]["detail"]
    # allowed, the connection goes to the vetted address while the URL keeps the name
    allowed = crawl(fast(allow_private=True), seed)
    assert [row["url"] for row in allowed.pages] == [seed, f"{seed}a"]
    assert {hit.host for hit in site.hits} == {f"innocent.drsynth.test:{site.port}"}


def test_private_hosts_exemption(serve: Callable[[dict[str, Route]], Site]) -> None:
    site = serve({"/": html()})
    result = crawl(fast(allow_private=False, private_hosts=(f"127.0.0.1:{site.port}",)), f"{site.url}/")
    assert len(result.pages) == 1


def test_private_hosts_exempt_a_host_on_its_port_only(serve: Callable[[dict[str, Route]], Site]) -> None:
    site, other = serve({"/": html()}), serve({"/": html()})
    # a bare host exempts its default ports (80, 443) only: not every service the host runs
    bare = crawl(fast(allow_private=False, private_hosts=("127.0.0.1",)), f"{site.url}/")
    assert bare.pages == [] and bare.reasons() == ["address_refused"] and site.hits == []
    # host:port exempts that port, and no other port of the host
    scoped = fast(allow_private=False, private_hosts=(f"127.0.0.1:{site.port}",))
    assert len(crawl(scoped, f"{site.url}/").pages) == 1
    assert crawl(scoped, f"{other.url}/").reasons() == ["address_refused"] and other.hits == []
    # the policy itself, without a server
    exempt = (f"intranet.test:{site.port}", "wiki.test", "[::1]:8080")
    assert netguard.is_exempt("INTRANET.test", site.port, exempt)
    assert not netguard.is_exempt("intranet.test", 6379, exempt)
    assert netguard.is_exempt("wiki.test", 80, exempt) and netguard.is_exempt("wiki.test", 443, exempt)
    assert not netguard.is_exempt("wiki.test", 8080, exempt)
    assert netguard.is_exempt("[::1]", 8080, exempt) and not netguard.is_exempt("::1", 80, exempt)
    with pytest.raises(ValueError):
        fast(private_hosts=("host:notaport",))


def test_oversize_declared_length_is_refused(serve: Callable[[dict[str, Route]], Site]) -> None:
    site = serve({"/": html("/big"), "/big": Reply(body=b"x" * 5000)})
    result = crawl(fast(max_bytes=1000), f"{site.url}/")
    assert [row["url"] for row in result.pages] == [f"{site.url}/"]
    assert result.reasons() == ["oversize"] and "Content-Length 5000" in result.quarantine[0]["detail"]


def test_oversize_stream_is_aborted_early(serve: Callable[[dict[str, Route]], Site]) -> None:
    @raw
    def endless(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Connection", "close")  # no length: the body ends when we close
        handler.end_headers()
        handler.close_connection = True
        for _ in range(400):  # 400 KiB over 4 s if nobody hangs up
            handler.wfile.write(b"<p>" + b"x" * 1020 + b"</p>")
            handler.wfile.flush()
            time.sleep(0.01)

    site = serve({"/": endless})
    started = time.monotonic()
    result = crawl(fast(max_bytes=8 * 1024), f"{site.url}/")
    assert time.monotonic() - started < 1.5
    assert result.reasons() == ["oversize"] and result.pages == []
    assert "aborted after" in result.quarantine[0]["detail"]
    assert 0 < len(result.quarantine[0]["input"]) <= 4096
    assert site.aborted.wait(2.0)  # the server saw the connection go away mid-body


def test_content_type_is_refused(serve: Callable[[dict[str, Route]], Site]) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    site = serve({
        "/": html("/logo.png", "/page.xhtml", "/untyped"),
        "/logo.png": Reply(body=png, content_type="image/png"),
        "/page.xhtml": Reply(body=b"<html xmlns='http://www.w3.org/1999/xhtml'></html>",
                             content_type="application/xhtml+xml"),
        "/untyped": Reply(body=b"<html></html>", content_type=None),
    })
    result = crawl(fast(), f"{site.url}/")
    assert sorted(row["url"] for row in result.pages) == [f"{site.url}/", f"{site.url}/page.xhtml"]
    refused = {row["source"]: row for row in result.quarantine}
    assert set(refused) == {f"{site.url}/logo.png", f"{site.url}/untyped"}
    assert {row["reason"] for row in refused.values()} == {"content_type"}
    assert "image/png" in refused[f"{site.url}/logo.png"]["detail"]


def test_5xx_is_retried_then_succeeds(serve: Callable[[dict[str, Route]], Site]) -> None:
    site = serve({"/": lambda n: Reply(503, b"busy") if n <= 2 else html()})
    result = crawl(fast(retries=3), f"{site.url}/")
    assert len(result.pages) == 1 and result.quarantine == []
    assert site.count("/") == 3 and result.stats["retries"] == 2


def test_persistent_errors_are_quarantined(serve: Callable[[dict[str, Route]], Site]) -> None:
    site = serve({"/": html("/broken", "/missing"), "/broken": Reply(500, b"<h1>oops</h1>")})
    result = crawl(fast(retries=2), f"{site.url}/")
    reasons = {row["source"].removeprefix(site.url): row["reason"] for row in result.quarantine}
    assert reasons == {"/broken": "http_500", "/missing": "http_404"}
    assert site.count("/broken") == 3 and site.count("/missing") == 1  # 4xx is not retried
    broken = next(row for row in result.quarantine if row["reason"] == "http_500")
    assert broken["input"] == b"<h1>oops</h1>"


def test_retry_after_is_honoured(serve: Callable[[dict[str, Route]], Site]) -> None:
    site = serve({"/": lambda n: Reply(429, headers={"Retry-After": "1"}) if n == 1 else html()})
    result = crawl(fast(), f"{site.url}/")
    assert len(result.pages) == 1
    first, second = site.times(exclude=("/robots.txt",))
    assert second - first >= 0.95


def test_timeout_is_quarantined(serve: Callable[[dict[str, Route]], Site]) -> None:
    site = serve({"/": Reply(body=b"<html></html>", delay=1.0)})
    started = time.monotonic()
    result = crawl(fast(timeout_s=0.3, retries=1), f"{site.url}/")
    assert result.reasons() == ["timeout"] and site.count("/") == 2
    assert time.monotonic() - started < 1.5


def test_connection_error_is_quarantined() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = crawl(fast(retries=1, obey_robots=False), f"http://127.0.0.1:{port}/")
    assert result.reasons() == ["connection_error"] and result.stats["retries"] == 1


def test_redirect_chain_is_followed_and_target_fetched_once(serve: Callable[[dict[str, Route]], Site]) -> None:
    site = serve({
        "/": html("/r1"),
        "/r1": redirect("/r2", 301),
        "/r3": redirect("final", 307),
        "/final": html("/final", "/r1", "/r3"),  # links to itself under three names
    })
    site.routes["/r2"] = redirect(f"{site.url}/r3", 302)  # absolute Location, as most servers send
    result = crawl(fast(), f"{site.url}/")
    assert result.quarantine == []
    final = result.by_url()[f"{site.url}/r1"]
    assert (final["final_url"], final["depth"], final["status"]) == (f"{site.url}/final", 1, 200)
    assert len(result.pages) == 2 and result.stats["redirects"] == 3
    assert all(site.count(path) == 1 for path in ["/r1", "/r2", "/r3", "/final"])
    hops = sorted((r["url"].removeprefix(site.url), r["target"].removeprefix(site.url)) for r in result.redirects)
    assert hops == [("/r1", "/r2"), ("/r2", "/r3"), ("/r3", "/final")]


def test_redirect_to_a_known_url_is_not_fetched_twice(serve: Callable[[dict[str, Route]], Site]) -> None:
    site = serve({"/": html("/final", "/old"), "/old": redirect("/final", 301), "/final": html()})
    result = crawl(fast(per_host_concurrency=1), f"{site.url}/")
    assert sorted(row["final_url"] for row in result.pages) == [f"{site.url}/", f"{site.url}/final"]
    assert site.count("/final") == 1 and result.quarantine == []
    assert result.stats["redirect_to_known_url"] == 1
    # the hop is still recorded: /old is an alias of /final for entity resolution
    assert [(r["url"], r["target"], r["status"]) for r in result.redirects] == [
        (f"{site.url}/old", f"{site.url}/final", 301)]


def test_redirect_loop_and_long_chain(serve: Callable[[dict[str, Route]], Site]) -> None:
    chain = {f"/c{i}": redirect(f"/c{i + 1}") for i in range(10)}
    site = serve({"/": html("/a", "/c0"), "/a": redirect("/b"), "/b": redirect("/a"), **chain})
    result = crawl(fast(max_redirects=3), f"{site.url}/")
    rows = {row["source"].removeprefix(site.url): row for row in result.quarantine}
    assert {path: row["reason"] for path, row in rows.items()} == {"/a": "redirect_loop", "/c0": "too_many_redirects"}
    assert "/a -> /b -> /a" in rows["/a"]["detail"].replace(site.url, "")
    assert site.count("/c3") == 1 and site.count("/c4") == 0  # 3 redirects followed, the 4th refused


def test_a_redirect_loop_between_two_linked_urls_is_a_row(serve: Callable[[dict[str, Route]], Site]) -> None:
    # both ends of the loop are linked, so each redirect lands on a URL the crawl already knows
    site = serve({"/": html("/a", "/b"), "/a": redirect("/b"), "/b": redirect("/a")})
    result = crawl(fast(per_host_concurrency=1), f"{site.url}/")
    assert [row["final_url"] for row in result.pages] == [f"{site.url}/"]
    rows = {row["source"].removeprefix(site.url): row for row in result.quarantine}
    assert {path: row["reason"] for path, row in rows.items()} == {"/a": "redirect_loop", "/b": "redirect_loop"}
    assert len(result.redirects) == 2


def test_redirect_hops_are_checked_against_scope_and_robots(serve: Callable[[dict[str, Route]], Site]) -> None:
    site = serve({
        "/robots.txt": Reply(body=b"User-agent: *\nDisallow: /secret\n", content_type="text/plain"),
        "/": html("/leave", "/sneak"),
        "/leave": redirect("http://elsewhere.drsynth.test/"),
        "/sneak": redirect("/secret"),
    })
    result = crawl(fast(), f"{site.url}/")
    reasons = {row["source"].removeprefix(site.url): row["reason"] for row in result.quarantine}
    assert reasons == {"/leave": "redirect_out_of_scope", "/sneak": "robots"}
    assert site.count("/secret") == 0


def test_out_of_scope_links_are_not_followed(serve: Callable[[dict[str, Route]], Site]) -> None:
    other = serve({"/": html()})
    site = serve({"/": html(f"http://localhost:{other.port}/")})
    result = crawl(fast(), f"{site.url}/")
    assert len(result.pages) == 1 and result.quarantine == [] and other.hits == []
    assert result.stats["out_of_scope"] == 1
    widened = crawl(fast(allowed_hosts=("localhost",)), f"{site.url}/")
    assert len(widened.pages) == 2


def test_depth_limit(serve: Callable[[dict[str, Route]], Site]) -> None:
    site = serve({"/": html("/d1"), "/d1": html("/d2"), "/d2": html("/d3"), "/d3": html("/d4")})
    result = crawl(fast(max_depth=2), f"{site.url}/")
    assert sorted(row["depth"] for row in result.pages) == [0, 1, 2]
    assert site.count("/d3") == 0


def test_page_limit(serve: Callable[[dict[str, Route]], Site]) -> None:
    pages = [f"/p{i}" for i in range(10)]
    site = serve({"/": html(*pages), **{p: html(*pages) for p in pages}})
    result = crawl(fast(max_pages=4), f"{site.url}/")
    assert len(result.pages) == 4 and site.page_hits() == 4
    assert sorted(row["depth"] for row in result.pages) == [0, 1, 1, 1]  # breadth-first
    assert result.stats["not_fetched_max_pages"] == 7


def test_resolve_maps_a_fictional_host(serve: Callable[[dict[str, Route]], Site]) -> None:
    site = serve({"/": html("/about", "http://example.drsynth.test/contact"), "/about": html(),
                  "/contact": html(), "/moved": redirect("http://alias.drsynth.test/about", 301)})
    resolve = {"example.drsynth.test": f"127.0.0.1:{site.port}", "alias.drsynth.test": f"127.0.0.1:{site.port}"}
    result = crawl(fast(resolve=resolve), "http://example.drsynth.test/")
    assert sorted(row["url"] for row in result.pages) == [
        "http://example.drsynth.test/", "http://example.drsynth.test/about", "http://example.drsynth.test/contact"]
    assert {hit.host for hit in site.hits} == {"example.drsynth.test"}
    # a seed that redirects to another host takes the crawl scope with it
    moved = crawl(fast(resolve=resolve), "http://example.drsynth.test/moved")
    assert [row["final_url"] for row in moved.pages] == ["http://alias.drsynth.test/about"]
    # the mapping does not bypass the address policy
    refused = crawl(fast(resolve=resolve, allow_private=False), "http://example.drsynth.test/")
    assert refused.reasons() == ["address_refused"]
    assert "example.drsynth.test is mapped to loopback address 127.0.0.1" in refused.quarantine[0]["detail"]


def test_invalid_seed_is_quarantined() -> None:
    result = crawl(fast(), "ftp://example.com/", "not a url")
    assert result.reasons() == ["invalid_url", "invalid_url"]
    assert [row["source"] for row in result.quarantine] == ["ftp://example.com/", "not a url"]


def test_async_crawl_streams_rows(serve: Callable[[dict[str, Route]], Site]) -> None:
    site = serve({"/": html("/a"), "/a": html()})

    async def collect() -> list[tuple[str, str]]:
        crawler = Crawler(fast())
        return [(dataset, row["url"]) async for dataset, row in crawler.crawl([f"{site.url}/"])]

    assert asyncio.run(collect()) == [("pages", f"{site.url}/"), ("pages", f"{site.url}/a")]


def test_crawl_sync_can_stop_early(serve: Callable[[dict[str, Route]], Site]) -> None:
    pages = [f"/p{i}" for i in range(30)]
    site = serve({"/": html(*pages), **{p: Reply(body=b"<html></html>", delay=0.05) for p in pages}})
    before = threading.active_count()
    rows = Crawler(fast(per_host_concurrency=2)).crawl_sync([f"{site.url}/"], buffer=1)
    first = next(rows)
    rows.close()  # must cancel the crawl and join its thread, not hang
    assert first[0] == "pages"
    assert site.page_hits() < 30
    deadline = time.monotonic() + 2
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(t.name == "drsynth-crawl" for t in threading.enumerate())


def test_a_page_reached_through_a_redirect_is_the_same_page() -> None:
    # which of two links (the article, or a redirect to it) a crawl follows first is a race between
    # fetchers: the page, and so the graph version built on it, must not depend on it
    from drsynth.synth.corpus.records import page_record

    direct = page_record(url="http://x.test/wiki/Comet", body=b"<p>c</p>", content_type="text/html",
                         source="s", source_kind="crawl")
    redirected = page_record(url="http://x.test/wiki/Comet_1904", final_url="http://x.test/wiki/Comet",
                             body=b"<p>c</p>", content_type="text/html", source="s", source_kind="crawl")
    assert direct["id"] == redirected["id"]
    assert page_record(url="http://x.test/wiki/Other", body=b"<p>c</p>", content_type="text/html", source="s",
                       source_kind="crawl")["id"] != direct["id"]


def test_a_malformed_location_is_an_invalid_url_not_a_retried_connection_error(
        serve: Callable[[dict[str, Route]], Site]) -> None:
    site = serve({"/": html("/bad"), "/bad": redirect("http://[::1")})
    result = crawl(fast(retries=2), f"{site.url}/")
    assert result.reasons() == ["invalid_url"] and site.count("/bad") == 1
