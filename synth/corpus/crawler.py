"""A polite, safe async web crawler that feeds the `pages` and `quarantine` datasets.

Polite: robots.txt (RFC 9309) is fetched once per origin and obeyed, Crawl-delay included; every
host gets a request rate and a concurrency cap that hold however many tasks run. Safe: every
connection goes through `netguard` (no private, loopback or link-local addresses unless allowed),
redirects are followed by hand so each hop is checked again, bodies are streamed and cut off at
`max_bytes`, every request has a deadline. Nothing disappears silently: whatever is refused or fails
becomes a quarantine row with a short reason code.

Rows are streamed: `Crawler.crawl` is an async iterator, `Crawler.crawl_sync` a plain one fed through
a bounded queue, so memory stays flat however large the crawl.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import heapq
import http.cookiejar
import ipaddress
import itertools
import logging
import math
import queue
import random
import re
import string
import threading
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

import httpx
import lxml.etree
import lxml.html
from pydantic import Field, field_validator

from drsynth.synth.corpus import netguard
from drsynth.synth.corpus.records import now_utc, page_record, quarantine_record, redirect_record
from drsynth.synth.sections import Section, Strings

logger = logging.getLogger(__name__)

DEFAULT_USER_AGENT = "drsynth/0.1 (+https://github.com/drsynth/drsynth)"
STAGE = "crawl"
ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309: parse at least 500 KiB; anything beyond is ignored
ROBOTS_MAX_REDIRECTS = 5  # RFC 9309 §2.3.1.2
QUARANTINE_SAMPLE = 4096  # body bytes kept from an error response
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DROPPED_HEADERS = frozenset({"set-cookie"})  # cookies must not end up in published datasets
ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"


# --- configuration ---------------------------------------------------------------------------


class CrawlConfig(Section):
    """The `[crawl]` section: how the web crawler fetches pages (scope, politeness, limits, address policy).

    Address policy (synth.corpus.netguard): every connection, redirect hops and robots.txt included,
    goes only to public unicast addresses; a name that resolves to any loopback, private, link-local,
    multicast, reserved or unspecified address is refused (`address_refused`), checked on the
    address actually connected to.
    - `allow_private = true` turns the policy off for every host and port (a crawl of a site on
      localhost, a lab network). Nothing else is exempt.
    - `private_hosts` exempts single services: `"host:port"` (`"wiki.intranet:8080"`,
      `"10.0.0.5:8080"`, `"[fd00::5]:8080"`) is that port of that host only; a bare `"host"` is its
      default web ports 80 and 443 only, never its other services (a database, an admin API). The
      host is matched as the URL writes it, before `resolve` maps it elsewhere.
    """

    max_depth: int = Field(3, ge=0)
    """Links followed from a seed: 0 fetches the seeds only, 1 also the pages they link to, and so on."""
    max_pages: int = Field(1000, ge=1)
    """URLs fetched per crawl, whatever the outcome (pages, errors, redirects); URLs that robots.txt
    refuses do not count."""
    same_site: bool = True
    """Follow links only to the seeds' hosts (and `allowed_hosts`); off: follow links to any host."""
    allowed_hosts: Strings = ()
    """Hosts besides the seeds' whose links are followed when `same_site` is on (case-insensitive).
    Empty: the seeds' hosts only."""
    user_agent: str = DEFAULT_USER_AGENT
    """The User-Agent header sent with every request, and the name robots.txt rules are matched against."""
    obey_robots: bool = True
    """Fetch each origin's robots.txt once and obey it, Crawl-delay included; off: ignore robots.txt."""
    rate_per_host: float = Field(1.0, gt=0)
    """Requests per second to one host, however many tasks run; a slower robots.txt Crawl-delay wins."""
    per_host_concurrency: int = Field(2, ge=1)
    """Requests in flight to one host at a time."""
    concurrency: int = Field(16, ge=1)
    """Requests in flight over all hosts at a time."""
    max_bytes: int = Field(5 * 1024 * 1024, ge=1)
    """Largest page body in bytes; a longer page is not kept but becomes an `oversize` quarantine row."""
    timeout_s: float = Field(20.0, gt=0)
    """Seconds one request may take, body included."""
    retries: int = Field(3, ge=0)
    """Further tries of a request that timed out, failed to connect or was answered 429 or 5xx;
    0: never retry."""
    backoff_base_s: float = Field(0.5, ge=0)
    """Backoff before the first retry, in seconds (a random wait between half of it and it), doubled on
    each further try; a longer Retry-After wins. 0: retry at once."""
    max_retry_after_s: float = Field(60.0, ge=0)
    """Longest Retry-After, in seconds, the crawler waits out; a longer one ends the retries (the error
    response is kept) instead of parking a worker. 0: give up on any Retry-After."""
    max_redirects: int = Field(5, ge=0)
    """Redirect hops followed from one URL (each checked against the address policy); 0: follow none."""
    allowed_content_types: Strings = Field(("text/html", "application/xhtml+xml"), min_length=1)
    """Media types (the Content-Type without its parameters, case-insensitive) kept as pages; a page of
    any other becomes a `content_type` quarantine row. Must not be empty."""
    allow_private: bool = False
    """Turn the address policy off for every host and port: allows localhost, private and link-local
    addresses (a crawl of a local site or a lab network)."""
    private_hosts: Strings = ()
    """Single services exempt from the address policy: "host:port" is that port of that host only, a bare
    "host" its ports 80 and 443 only. Empty: none."""
    resolve: dict[str, str] = Field({})
    """Host (or "host:port") -> "ip:port" to connect to instead of what DNS says, like curl --resolve.
    Empty: resolve every name through DNS."""

    @field_validator("allowed_hosts", "allowed_content_types")
    @classmethod
    def _lower_case(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        # host names and media types compare case-insensitively: kept lower-cased, compared as such
        return tuple(value.lower() for value in values)

    @field_validator("private_hosts")
    @classmethod
    def _check_private_hosts(cls, entries: tuple[str, ...]) -> tuple[str, ...]:
        for entry in entries:
            try:
                netguard.parse_exempt_host(entry)
            except ValueError as error:
                raise ValueError(f"[crawl] private_hosts: {error}") from None
        return entries

    @field_validator("resolve")
    @classmethod
    def _check_resolve(cls, resolve: dict[str, str]) -> dict[str, str]:
        try:
            netguard.parse_resolve_map(resolve)
        except ValueError as error:
            raise ValueError(f"[crawl] resolve: {error}") from None
        return resolve


# --- URLs --------------------------------------------------------------------------------------

_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_PATH_SAFE = _UNRESERVED | frozenset("!$&'()*+,;=:@/")
_QUERY_SAFE = _PATH_SAFE | frozenset("?")
_HEXDIGITS = frozenset(string.hexdigits)
_HOST_NAME = re.compile(r"[a-z0-9_.-]+")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_URL_NOISE = re.compile(r"[\t\n\r]")  # browsers drop these anywhere in a URL


def _normalize_percent(text: str, safe: frozenset[str]) -> str:
    """Decode escapes of unreserved characters, upper-case the others, escape what must be."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "%" and text[i + 1 : i + 2] in _HEXDIGITS and text[i + 2 : i + 3] in _HEXDIGITS:
            hex_pair = text[i + 1 : i + 3]
            decoded = chr(int(hex_pair, 16))
            out.append(decoded if decoded in _UNRESERVED else "%" + hex_pair.upper())
            i += 3
            continue
        out.append(ch if ch in safe else "".join(f"%{b:02X}" for b in ch.encode("utf-8")))
        i += 1
    return "".join(out)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 on an absolute path."""
    segments = path.split("/")
    out: list[str] = []
    for segment in segments:
        if segment == ".":
            continue
        if segment == "..":
            if len(out) > 1:
                out.pop()
            continue
        out.append(segment)
    result = "/".join(out)
    if segments[-1] in (".", ".."):
        result += "/"
    return result if result.startswith("/") else "/" + result


def _canonical_host(host: str | None) -> str:
    if not host:
        raise ValueError("URL has no host")
    if ":" in host:
        return f"[{ipaddress.IPv6Address(host).compressed}]"  # rejects zone ids too
    ipv4 = netguard.parse_ipv4_literal(host)
    if ipv4 is not None:  # 2130706433, 0x7f.1 ... all become dotted quads
        return str(ipv4)
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    host = host.lower()
    if not _HOST_NAME.fullmatch(host) or ".." in host:
        raise ValueError(f"invalid host {host!r}")
    return host


def canonicalize_url(url: str, base: str | None = None) -> str:
    """The one spelling of an http(s) URL the crawler dedupes on: scheme and host lower-cased, default
    port, fragment and userinfo dropped, percent-encoding normalized, dot segments removed, query kept.
    Raises ValueError for anything that is not a fetchable http(s) URL."""
    url = _URL_NOISE.sub("", url).strip()
    if base is not None:
        url = urljoin(base, url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"unsupported scheme {scheme!r}" if scheme else "not an absolute URL")
    host = _canonical_host(parts.hostname)
    port = parts.port  # raises ValueError when out of range
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = _remove_dot_segments(_normalize_percent(parts.path or "/", _PATH_SAFE))
    query = _normalize_percent(parts.query, _QUERY_SAFE)
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")


def _origin(parts: SplitResult) -> str:
    return f"{parts.scheme}://{parts.netloc}"


def _path_and_query(parts: SplitResult) -> str:
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


# --- link discovery ----------------------------------------------------------------------------

_SKIPPED_SCHEMES = ("javascript:", "mailto:", "tel:", "data:")


def _parse_html(body: bytes, encoding: str | None) -> lxml.html.HtmlElement | None:
    parser = lxml.html.HTMLParser(encoding=encoding) if encoding else None
    try:
        return lxml.html.document_fromstring(body, parser=parser)
    except (lxml.etree.ParserError, ValueError):  # empty or undecodable document
        return None


def extract_links(body: bytes, page_url: str, encoding: str | None = None) -> list[str]:
    """Canonical absolute http(s) URLs of the page's `<a href>`s, in document order, deduplicated.
    Relative links resolve against `<base href>` when there is one, else against `page_url` (the URL
    after redirects). rel=nofollow links are kept: nofollow is about ranking, not crawling."""
    doc = _parse_html(body, encoding)
    if doc is None:
        return []
    base = page_url
    for element in doc.iter("base"):
        href = element.get("href")
        if href:
            base = urljoin(page_url, _URL_NOISE.sub("", href).strip())
            break
    links: dict[str, None] = {}
    for element in doc.iter("a"):
        href = (element.get("href") or "").strip()
        if not href or href.startswith("#") or href.lower().startswith(_SKIPPED_SCHEMES):
            continue
        try:
            links.setdefault(canonicalize_url(href, base=base), None)
        except ValueError:
            continue  # ftp:, broken IPv6 literal and the like: not crawlable, not an error of ours
    return list(links)


# --- robots.txt (RFC 9309) -------------------------------------------------------------------


@dataclass(frozen=True)
class RobotsRules:
    # (pattern length, allow?, compiled pattern); the longest matching pattern decides
    rules: tuple[tuple[int, bool, re.Pattern[str]], ...] = ()
    crawl_delay: float | None = None
    disallow_everything: bool = False

    def allows(self, path_and_query: str) -> bool:
        if path_and_query == "/robots.txt":
            return True
        if self.disallow_everything:
            return False
        path = _normalize_percent(path_and_query, _QUERY_SAFE)
        best: tuple[int, bool] | None = None
        for length, allow, pattern in self.rules:
            # on a tie between allow and disallow, allow wins (RFC 9309 §2.2.2)
            if pattern.match(path) and (best is None or (length, allow) > best):
                best = (length, allow)
        return True if best is None else best[1]


ALLOW_ALL = RobotsRules()
DISALLOW_ALL = RobotsRules(disallow_everything=True)


def _robots_pattern(value: str) -> re.Pattern[str]:
    anchored = value.endswith("$")
    value = _normalize_percent(value.rstrip("$") if anchored else value, _QUERY_SAFE)
    regex = ".*".join(re.escape(piece) for piece in value.split("*"))
    return re.compile(regex + ("$" if anchored else ""))


@dataclass
class _RobotsGroup:
    agents: list[str] = field(default_factory=list)
    rules: list[tuple[int, bool, re.Pattern[str]]] = field(default_factory=list)
    crawl_delay: float | None = None
    has_members: bool = False


def _robots_groups(text: str) -> list[_RobotsGroup]:
    groups: list[_RobotsGroup] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        key, sep, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if not sep:
            continue
        if key == "user-agent":
            if not groups or groups[-1].has_members:  # consecutive user-agent lines share a group
                groups.append(_RobotsGroup())
            groups[-1].agents.append(value.lower())
        elif groups and key in ("allow", "disallow"):
            groups[-1].has_members = True
            if value:  # an empty Disallow allows everything: no rule
                groups[-1].rules.append((len(value), key == "allow", _robots_pattern(value)))
        elif groups and key == "crawl-delay":
            groups[-1].has_members = True
            try:
                delay = float(value)
            except ValueError:
                continue
            if math.isfinite(delay) and delay >= 0:
                groups[-1].crawl_delay = delay
    return groups


def product_token(user_agent: str) -> str:
    """"drsynth/0.1 (+https://...)" -> "drsynth": what robots.txt user-agent lines name."""
    return re.split(r"[/\s]", user_agent.strip(), maxsplit=1)[0].lower()


def parse_robots(text: str, user_agent: str) -> RobotsRules:
    """Rules of the groups naming our product token, else of the `*` groups, merged."""
    token = product_token(user_agent)
    groups = _robots_groups(text.lstrip("\ufeff"))
    ours = [g for g in groups if any(product_token(a) == token for a in g.agents)]
    chosen = ours or [g for g in groups if "*" in g.agents]
    delays = [g.crawl_delay for g in chosen if g.crawl_delay is not None]
    return RobotsRules(
        rules=tuple(rule for g in chosen for rule in g.rules),
        crawl_delay=max(delays) if delays else None,
    )


@dataclass(frozen=True)
class _RobotsVerdict:
    rules: RobotsRules
    note: str = ""  # why the rules are what they are, for quarantine details
    refused: str | None = None  # the host itself is refused by the address policy


# --- politeness --------------------------------------------------------------------------------


class _HostGate:
    """Per-host concurrency cap and request spacing, shared by every task that talks to the host."""

    def __init__(self, interval: float, concurrency: int) -> None:
        self.interval = interval
        self._semaphore = asyncio.Semaphore(concurrency)
        self._next_at = 0.0

    def slow_down(self, interval: float) -> None:
        self.interval = max(self.interval, interval)

    def defer(self, seconds: float) -> None:
        """Push the next request back, e.g. for a 429's Retry-After, for every task."""
        self._next_at = max(self._next_at, time.monotonic() + seconds)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._semaphore:
            # reserve a start time while holding the semaphore, so spacing holds for any task count
            now = time.monotonic()
            start = max(now, self._next_at)
            self._next_at = start + self.interval
            if start > now:
                await asyncio.sleep(start - now)
            yield


@dataclass(order=True)
class _Item:
    depth: int
    seq: int
    url: str = field(compare=False)
    source: str = field(compare=False)  # the seed this URL was reached from
    host: str = field(compare=False)


class _Frontier:
    """Per-host heaps ordered by (depth, discovery order): breadth-first overall, and a host that is
    at its concurrency cap never blocks the others."""

    def __init__(self) -> None:
        self._heaps: dict[str, list[_Item]] = {}
        self._seq = itertools.count()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def push(self, url: str, depth: int, source: str) -> None:
        item = _Item(depth, next(self._seq), url, source, _host(url))
        heapq.heappush(self._heaps.setdefault(item.host, []), item)
        self._size += 1

    def pop_ready(self, busy: Callable[[str], bool]) -> _Item | None:
        best: _Item | None = None
        for host, heap in self._heaps.items():
            if not busy(host) and (best is None or heap[0] < best):
                best = heap[0]
        if best is None:
            return None
        heap = self._heaps[best.host]
        heapq.heappop(heap)
        if not heap:
            del self._heaps[best.host]
        self._size -= 1
        return best


# --- fetching ----------------------------------------------------------------------------------


@dataclass
class _Response:
    url: str
    status: int
    headers: httpx.Headers
    body: bytes = b""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def media_type(self) -> str:
        return self.content_type.split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str | None:
        match = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", self.content_type, re.IGNORECASE)
        if match is None:
            return None
        try:
            return codecs.lookup(match.group(1)).name
        except LookupError:
            return None

    @property
    def location(self) -> str | None:
        return self.headers.get("location") if self.status in REDIRECT_STATUSES else None


class _Refused(Exception):
    """A fetch that ends in a quarantine row."""

    def __init__(self, reason: str, detail: str, sample: bytes = b"") -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.sample = sample


class _Transient(_Refused):
    """A failure worth retrying (timeout, connection error)."""


@dataclass(frozen=True)
class _Mode:
    limit: int
    truncate: bool  # cut the body at `limit` instead of refusing it
    check_type: bool


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after", "").strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now_utc()).total_seconds())


def _kept_headers(headers: httpx.Headers) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in DROPPED_HEADERS}


def _chain_text(chain: list[str]) -> str:
    return " -> ".join(chain)


@dataclass
class _Done:
    task: asyncio.Task[None]
    item: _Item
    fetched: bool  # a request for the item's URL went out: it used a max_pages slot


class _CrawlRun:
    """The state of one `crawl()` call: client, frontier, robots cache, host gates, budget."""

    def __init__(self, config: CrawlConfig, stats: Counter[str]) -> None:
        self.config = config
        self.stats = stats
        self._frontier = _Frontier()
        self._seen: set[str] = set()
        self._hops: dict[str, str] = {}  # every redirect followed or recorded: URL -> its target
        self._aliases: set[str] = set()  # items that ended redirecting to a known URL, with no row
        self._scope: set[str] = set(config.allowed_hosts)
        self._gates: dict[str, _HostGate] = {}
        self._robots: dict[str, asyncio.Task[_RobotsVerdict]] = {}
        self._active: defaultdict[str, int] = defaultdict(int)
        self._tasks: set[asyncio.Task[None]] = set()
        self._out: asyncio.Queue[tuple[str, dict] | _Done] = asyncio.Queue()
        self._budget_used = 0
        self._page_mode = _Mode(config.max_bytes, truncate=False, check_type=True)
        self._robots_mode = _Mode(ROBOTS_MAX_BYTES, truncate=True, check_type=False)
        self._client = httpx.AsyncClient(
            transport=netguard.GuardedTransport(
                allow_private=config.allow_private,
                allowed_hosts=config.private_hosts,
                resolve=config.resolve,
                limits=httpx.Limits(
                    max_connections=config.concurrency + 4,
                    max_keepalive_connections=config.concurrency,
                ),
            ),
            headers={"User-Agent": config.user_agent, "Accept": ACCEPT},
            timeout=httpx.Timeout(config.timeout_s),
            follow_redirects=False,  # every hop is checked by hand
            trust_env=False,  # no proxies or netrc from the environment
            # a crawl is stateless: refuse every cookie so no session leaks between pages
            cookies=http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[])),
        )

    async def aclose(self) -> None:
        pending = [*self._tasks, *self._robots.values()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self._client.aclose()

    # -- driving ---------------------------------------------------------------------------

    async def rows(self, seeds: Iterable[str]) -> AsyncIterator[tuple[str, dict]]:
        for seed in seeds:
            refusal = self._add_seed(seed)
            if refusal is not None:
                yield refusal
        self._dispatch()
        while self._tasks:
            message = await self._out.get()
            if isinstance(message, _Done):
                self._finish(message)
                self._dispatch()
            else:
                yield message
        if self._frontier:
            self.stats["not_fetched_max_pages"] += len(self._frontier)

    def _add_seed(self, seed: str) -> tuple[str, dict] | None:
        try:
            url = canonicalize_url(seed)
        except ValueError as exc:
            return "quarantine", self._quarantine_row(seed, "invalid_url", f"seed {seed!r}: {exc}")
        self._scope.add(_host(url))
        if url not in self._seen:
            self._seen.add(url)
            self._frontier.push(url, 0, url)
        return None

    def _dispatch(self) -> None:
        cfg = self.config
        while len(self._tasks) < cfg.concurrency and self._budget_used < cfg.max_pages:
            item = self._frontier.pop_ready(lambda h: self._active[h] >= cfg.per_host_concurrency)
            if item is None:
                return
            self._budget_used += 1  # reserved now, refunded if no request goes out for it
            self._active[item.host] += 1
            self._tasks.add(asyncio.create_task(self._run_item(item), name=f"crawl {item.url}"))

    def _finish(self, done: _Done) -> None:
        self._tasks.discard(done.task)
        self._active[done.item.host] -= 1
        if not done.fetched:
            self._budget_used -= 1

    async def _run_item(self, item: _Item) -> None:
        fetched = True
        try:
            fetched = await self._visit(item)
        except Exception as exc:  # a crawler bug must not end the crawl nor lose the URL
            logger.exception("crawler error on %s", item.url)
            self._quarantine(item.url, "crawler_error", f"{type(exc).__name__}: {exc}")
        finally:
            task = asyncio.current_task()
            assert task is not None
            self._out.put_nowait(_Done(task, item, fetched))

    # -- one URL ---------------------------------------------------------------------------

    async def _visit(self, item: _Item) -> bool:
        """Fetch one frontier URL, following redirects; returns whether a request was sent for it."""
        chain = [item.url]
        while True:
            url = chain[-1]
            refusal = await self._gatekeep(url)
            if refusal is not None:
                self._quarantine(item.url, *refusal)
                return len(chain) > 1
            try:
                response = await self._request(url, self._page_mode)
            except _Refused as exc:
                self._quarantine(item.url, exc.reason, exc.detail, exc.sample)
                return True
            if response.location is None:
                break
            target = self._follow(item, chain, response.location, response.status)
            if target is None:
                return True
            chain.append(target)
        self._accept(item, response)
        return True

    async def _gatekeep(self, url: str) -> tuple[str, str] | None:
        """Robots and address verdicts for a URL about to be requested: (reason, detail) or None."""
        if not self.config.obey_robots:
            return None
        parts = urlsplit(url)
        verdict = await self._robots_verdict(_origin(parts))
        if verdict.refused is not None:
            return "address_refused", verdict.refused
        if not verdict.rules.allows(_path_and_query(parts)):
            self.stats["robots_blocked"] += 1
            why = verdict.note or f"robots.txt of {_origin(parts)} disallows it"
            return "robots", f"{url}: {why}"
        return None

    def _follow(self, item: _Item, chain: list[str], location: str, status: int) -> str | None:
        """The next hop of a redirect, or None after recording why the chain stops here."""
        try:
            target = canonicalize_url(location, base=chain[-1])
        except ValueError as exc:
            self._quarantine(item.url, "invalid_url", f"redirect from {chain[-1]} to {location!r}: {exc}")
            return None
        # recorded even when the chain stops here: the hop makes its URL an alias of the target page
        self._emit("redirects", redirect_record(url=chain[-1], target=target, status=status, source=item.source))
        self._hops[chain[-1]] = target
        if target in chain:
            self._quarantine(item.url, "redirect_loop", f"redirect loop: {_chain_text([*chain, target])}")
            return None
        if len(chain) > self.config.max_redirects:
            detail = f"more than {self.config.max_redirects} redirects: {_chain_text([*chain, target])}"
            self._quarantine(item.url, "too_many_redirects", detail)
            return None
        if not self._in_scope(target):
            if item.depth == 0 and self.config.same_site:
                self._scope.add(_host(target))  # a seed moving (http -> https, www.) moves the site
            else:
                detail = f"redirect leaves the crawl scope: {_chain_text([*chain, target])}"
                self._quarantine(item.url, "redirect_out_of_scope", detail)
                return None
        if target in self._seen:  # the target is canonical: it is (or was) fetched under its own URL
            self.stats["redirect_to_known_url"] += 1
            self._end_as_alias(item, chain, target)
            return None
        self._seen.add(target)
        self.stats["redirects"] += 1
        return target

    def _end_as_alias(self, item: _Item, chain: list[str], target: str) -> None:
        """An item whose redirects reach a URL the crawl knows is an alias of that URL's page and needs
        no row of its own, unless the recorded hops from there come round in a loop: then no page ends
        it, and the item, like every earlier alias whose hops run into a loop, gets a `redirect_loop` row."""
        path = self._hop_path(chain, target)
        if path[-1] not in path[:-1]:
            self._aliases.add(item.url)
            return
        self._quarantine(item.url, "redirect_loop",
                         f"redirect loop through URLs the crawl already knew: {_chain_text(path)}")
        for url in sorted(self._aliases):
            earlier = self._hop_path([url], self._hops[url])
            if earlier[-1] in earlier[:-1]:
                self._aliases.discard(url)
                self._quarantine(url, "redirect_loop", f"redirects into a loop: {_chain_text(earlier)}")

    def _hop_path(self, chain: list[str], target: str) -> list[str]:
        """`chain` + `target` + the recorded hops from there, up to a URL with none or one seen before."""
        path, seen = [*chain, target], set(chain)
        while path[-1] not in seen and path[-1] in self._hops:
            seen.add(path[-1])
            path.append(self._hops[path[-1]])
        return path

    def _accept(self, item: _Item, response: _Response) -> None:
        if not 200 <= response.status < 300:
            status = response.status
            detail = f"{response.url} answered HTTP {status}"
            self._quarantine(item.url, f"http_{status}", detail, response.body)
            return
        self.stats["fetched"] += 1
        self._emit("pages", page_record(
            url=item.url,
            final_url=response.url,
            body=response.body,
            content_type=response.content_type,
            source=item.source,
            source_kind="crawl",
            status=response.status,
            headers=_kept_headers(response.headers),
            depth=item.depth,
        ))
        if item.depth < self.config.max_depth:
            for link in extract_links(response.body, response.url, response.charset):
                self._enqueue(link, item.depth + 1, item.source)

    def _enqueue(self, url: str, depth: int, source: str) -> None:
        if url in self._seen:
            return
        if not self._in_scope(url):
            self.stats["out_of_scope"] += 1
            return
        self._seen.add(url)
        self._frontier.push(url, depth, source)

    def _in_scope(self, url: str) -> bool:
        return not self.config.same_site or _host(url) in self._scope

    # -- robots ----------------------------------------------------------------------------

    async def _robots_verdict(self, origin: str) -> _RobotsVerdict:
        task = self._robots.get(origin)
        if task is None:  # first asker fetches; everyone else awaits the same task
            task = asyncio.create_task(self._fetch_robots(origin), name=f"robots {origin}")
            self._robots[origin] = task
        # shielded: one waiter being cancelled must not cancel the fetch the others wait on
        return await asyncio.shield(task)

    async def _fetch_robots(self, origin: str) -> _RobotsVerdict:
        self.stats["robots_fetched"] += 1
        url = f"{origin}/robots.txt"
        for hop in range(ROBOTS_MAX_REDIRECTS + 1):
            try:
                response = await self._request(url, self._robots_mode)
            except _Refused as exc:
                if exc.reason == "address_refused" and hop == 0:
                    return _RobotsVerdict(DISALLOW_ALL, refused=exc.detail)
                # RFC 9309 §2.3.1.4: unreachable robots.txt means the whole site is off limits
                return _RobotsVerdict(DISALLOW_ALL, f"{url} unreachable ({exc.detail}): site disallowed")
            if response.location is None:
                return self._robots_from(url, response)
            try:
                url = canonicalize_url(response.location, base=url)
            except ValueError:
                return _RobotsVerdict(ALLOW_ALL, f"{url} redirects to an unusable URL: no rules")
        return _RobotsVerdict(ALLOW_ALL, f"{origin}/robots.txt redirects too often: no rules")

    def _robots_from(self, url: str, response: _Response) -> _RobotsVerdict:
        status = response.status
        if 200 <= status < 300:
            rules = parse_robots(response.body.decode("utf-8", "replace"), self.config.user_agent)
            if rules.crawl_delay:
                self._gate(_host(url)).slow_down(rules.crawl_delay)
            return _RobotsVerdict(rules)
        if 400 <= status < 500 and status != 429:  # "unavailable": no restrictions (§2.3.1.3)
            return _RobotsVerdict(ALLOW_ALL)
        return _RobotsVerdict(DISALLOW_ALL, f"{url} answered HTTP {status}: site disallowed")

    # -- HTTP ------------------------------------------------------------------------------

    def _gate(self, host: str) -> _HostGate:
        gate = self._gates.get(host)
        if gate is None:
            cfg = self.config
            gate = self._gates[host] = _HostGate(1.0 / cfg.rate_per_host, cfg.per_host_concurrency)
        return gate

    def _backoff(self, attempt: int) -> float:
        ceiling = self.config.backoff_base_s * 2**attempt
        return random.uniform(ceiling / 2, ceiling)  # jitter spreads retries of many tasks apart

    async def _request(self, url: str, mode: _Mode) -> _Response:
        """GET with retries on 5xx, 429, timeouts and connection errors; returns the last response,
        raises _Refused when no usable response came."""
        for attempt in itertools.count():
            last = attempt >= self.config.retries
            try:
                response = await self._attempt(url, mode)
            except _Transient:
                if last:
                    raise
                delay = self._backoff(attempt)
            else:
                if not (response.status == 429 or response.status >= 500) or last:
                    return response
                delay = self._backoff(attempt)
                retry_after = _retry_after(response.headers)
                if retry_after is not None:
                    if retry_after > self.config.max_retry_after_s:
                        return response
                    delay = max(delay, retry_after)
                    self._gate(_host(url)).defer(retry_after)
            self.stats["retries"] += 1
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _attempt(self, url: str, mode: _Mode) -> _Response:
        async with self._gate(_host(url)).slot():
            self.stats["requests"] += 1
            try:
                async with asyncio.timeout(self.config.timeout_s):
                    async with self._client.stream("GET", url) as response:
                        return await self._read(url, response, mode)
            except netguard.AddressRefused as exc:
                raise _Refused("address_refused", f"{url}: {exc.reason}") from None
            except (TimeoutError, httpx.TimeoutException):
                raise _Transient("timeout", f"{url}: no complete response within {self.config.timeout_s}s") from None
            except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                raise _Refused("invalid_url", f"{url}: {exc}") from None
            except httpx.DecodingError as exc:
                raise _Refused("decoding_error", f"{url}: {exc}") from None
            except httpx.RemoteProtocolError as exc:
                if "location header" in str(exc).lower():
                    # httpx parses a redirect's Location even when it does not follow it: a malformed
                    # one is the page's answer, not a connection worth retrying
                    raise _Refused("invalid_url", f"{url}: {exc}") from None
                raise _Transient("connection_error", f"{url}: {type(exc).__name__}: {exc}") from None
            except httpx.TransportError as exc:
                raise _Transient("connection_error", f"{url}: {type(exc).__name__}: {exc}") from None

    async def _read(self, url: str, response: httpx.Response, mode: _Mode) -> _Response:
        result = _Response(url, response.status_code, response.headers)
        if result.location is not None:
            return result
        if not 200 <= result.status < 300:  # keep the start of an error page for debugging
            result.body = await self._read_body(url, response, QUARANTINE_SAMPLE, truncate=True)
            return result
        if mode.check_type and result.media_type not in self.config.allowed_content_types:
            shown = result.content_type or "none"
            raise _Refused("content_type", f"{url}: Content-Type {shown} is not one of "
                                           f"{', '.join(self.config.allowed_content_types)}")
        declared = response.headers.get("content-length", "")
        if not mode.truncate and declared.isdigit() and int(declared) > mode.limit:
            raise _Refused("oversize", f"{url}: Content-Length {declared} exceeds max_bytes={mode.limit}")
        result.body = await self._read_body(url, response, mode.limit, mode.truncate)
        return result

    async def _read_body(self, url: str, response: httpx.Response, limit: int, truncate: bool) -> bytes:
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            self.stats["bytes"] += len(chunk)
            if len(body) > limit:
                if truncate:
                    return bytes(body[:limit])
                raise _Refused("oversize", f"{url}: body exceeds max_bytes={limit}, aborted after "
                                           f"{len(body)} bytes", bytes(body[:QUARANTINE_SAMPLE]))
        return bytes(body)

    # -- output ----------------------------------------------------------------------------

    def _emit(self, dataset: str, row: dict) -> None:
        self._out.put_nowait((dataset, row))

    def _quarantine_row(self, source: str, reason: str, detail: str, sample: bytes = b"") -> dict:
        self.stats["quarantined"] += 1
        self.stats[f"quarantined.{reason}"] += 1
        logger.debug("quarantine %s %s: %s", reason, source, detail)
        return quarantine_record(stage=STAGE, reason=reason, source=source, detail=detail, input=sample)

    def _quarantine(self, source: str, reason: str, detail: str, sample: bytes = b"") -> None:
        self._emit("quarantine", self._quarantine_row(source, reason, detail, sample))


# --- public entry point ------------------------------------------------------------------------

_END = object()


@dataclass
class _Failure:
    error: BaseException


class Crawler:
    """Crawls from seed URLs and yields ("pages", row), ("redirects", row) and ("quarantine", row) pairs.

    `stats` counts what every crawl of this instance did: fetched, requests, retries, bytes,
    robots_fetched, robots_blocked, redirects, out_of_scope, quarantined and quarantined.<reason>.
    """

    def __init__(self, config: CrawlConfig | None = None) -> None:
        self.config = config or CrawlConfig()
        self.stats: Counter[str] = Counter()

    async def crawl(self, seeds: Iterable[str]) -> AsyncIterator[tuple[str, dict]]:
        run = _CrawlRun(self.config, self.stats)
        try:
            async with contextlib.aclosing(run.rows(list(seeds))) as rows:
                async for dataset_and_row in rows:
                    yield dataset_and_row
        finally:
            await run.aclose()  # cancels what is in flight when the consumer stops early

    def crawl_sync(self, seeds: Iterable[str], *, buffer: int = 64) -> Iterator[tuple[str, dict]]:
        """`crawl` for synchronous callers: the event loop runs in a background thread and rows come
        through a queue of `buffer` items, so a slow consumer pauses the crawl instead of piling up
        rows. Closing the iterator early cancels the crawl."""
        seed_list = list(seeds)
        rows: queue.Queue[Any] = queue.Queue(maxsize=buffer)
        handle: dict[str, Any] = {}
        ready = threading.Event()

        async def main() -> None:
            handle["loop"], handle["task"] = asyncio.get_running_loop(), asyncio.current_task()
            ready.set()
            with contextlib.suppress(asyncio.CancelledError):  # the consumer stopped early
                await self._pump(seed_list, rows)

        thread = threading.Thread(target=asyncio.run, args=(main(),), name="drsynth-crawl", daemon=True)
        thread.start()
        ready.wait()
        try:
            while (message := _next_message(rows, thread)) is not _END:
                if isinstance(message, _Failure):
                    raise message.error
                yield message
        finally:
            if thread.is_alive():
                # RuntimeError: the loop closed in the meantime, nothing is left to cancel
                with contextlib.suppress(RuntimeError):
                    handle["loop"].call_soon_threadsafe(handle["task"].cancel)
            thread.join()

    async def _pump(self, seeds: list[str], rows: queue.Queue[Any]) -> None:
        try:
            async with contextlib.aclosing(self.crawl(seeds)) as crawl:
                async for dataset_and_row in crawl:
                    await _put(rows, dataset_and_row)
        except Exception as exc:
            await _put(rows, _Failure(exc))
        await _put(rows, _END)


def _next_message(rows: queue.Queue[Any], thread: threading.Thread) -> Any:
    while True:
        try:
            return rows.get(timeout=0.2)
        except queue.Empty:
            # a thread that died without saying so must not leave the consumer waiting forever
            if not thread.is_alive() and rows.empty():
                raise RuntimeError("the crawl thread ended without finishing the crawl") from None


async def _put(rows: queue.Queue[Any], message: object) -> None:
    # polling keeps the event loop free (and cancellable) while the consumer catches up
    while True:
        try:
            rows.put_nowait(message)
            return
        except queue.Full:
            await asyncio.sleep(0.01)
