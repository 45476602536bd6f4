"""URL normalization for entity resolution, and the text folding that name matching shares.

`normalize_url` gives one spelling of an address (what `entities.urls` stores); `url_key` folds it
further (case and diacritics of the path) into the key that resolution compares. Both are idempotent,
and `url_key(normalize_url(u)) == url_key(u)`, so the index rebuilt from stored URLs matches raw hrefs.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443}
# query parameters that say where a click came from, not what was asked for
TRACKING_PARAMS = frozenset({
    "ref", "ref_src", "ref_url", "referrer", "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid",
    "yclid", "mc_cid", "mc_eid", "igshid", "_hsenc", "_hsmi", "_ga", "_gl", "spm", "share", "cmpid",
})
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_")
# what stays literal in a normalized path / query; everything else is percent-encoded (RFC 3986)
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_QUERY_SAFE = ":@!$'()*+,;/?-._~"
_SEGMENT_EXTENSIONS = re.compile(r"\.(?:s?html?|php\d?|aspx?|jsp|cgi)$", re.IGNORECASE)


# combining marks (the diacritics NFKD splits off letters)
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def fold(text: str) -> str:
    """Case- and diacritics-folded text: "Ålesund" -> "alesund", "STRASSE" == "Straße"."""
    if text.isascii():
        return text.lower()
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text)).casefold()


def _clean_query(query: str) -> str:
    pairs = [
        (k, v) for k, v in parse_qsl(query, keep_blank_values=True)
        if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(TRACKING_PREFIXES)
    ]
    return urlencode(sorted(pairs), quote_via=quote, safe=_QUERY_SAFE)


@lru_cache(maxsize=8192)
def normalize_url(url: str | None) -> str | None:
    """One spelling per address: lowercase scheme and host, no default port, no fragment, no tracking
    parameters (the rest sorted), one percent-encoding, no trailing slash; None when not a URL."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not scheme:
        return None
    host = (parts.hostname or "").lower().rstrip(".")
    netloc = host
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"
    path = quote(unquote(parts.path), safe=_PATH_SAFE)
    if scheme in DEFAULT_PORTS:
        path = path.rstrip("/") or "/"
    query = _clean_query(parts.query) if parts.query else ""
    return urlunsplit((scheme, netloc, path, query, ""))


@lru_cache(maxsize=8192)
def url_key(url: str | None) -> str | None:
    """The resolution key of a URL: its normalized form with the path and query case- and
    diacritics-folded, so that /wiki/Selva and /wiki/selva, or M%C4%81ori and Maori, meet."""
    normalized = normalize_url(url)
    if normalized is None:
        return None
    parts = urlsplit(normalized)
    path = quote(fold(unquote(parts.path)), safe=_PATH_SAFE)
    query = quote(fold(unquote(parts.query)), safe=_QUERY_SAFE + "=&")
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


@lru_cache(maxsize=8192)
def host_of(url: str | None) -> str:
    try:
        return (urlsplit(url or "").hostname or "").lower()
    except ValueError:
        return ""


def is_site_root(url: str | None) -> bool:
    """True for a site's home page ("https://example.org/", with or without a query)."""
    normalized = normalize_url(url)
    if normalized is None:
        return False
    parts = urlsplit(normalized)
    return parts.scheme in DEFAULT_PORTS and parts.path in ("", "/")


def alias_from_url(url: str) -> str | None:
    """The name a URL's last path segment spells: /wiki/Selva_River -> "Selva River"."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    segment = unquote(path.rstrip("/").rsplit("/", 1)[-1])
    segment = _SEGMENT_EXTENSIONS.sub("", segment).replace("_", " ")
    segment = " ".join(segment.split())
    return segment or None


def text_record_key(url: str | None, title: str | None) -> str | None:
    """(corpus, folded title) of a text-corpus record, whose URL is `file://<corpus>#title=<title>`;
    None for any other document."""
    if not url or not url.startswith("file:") or "#title=" not in url:
        return None
    corpus, _, _ = url.partition("#")
    if not title:
        fragment = url.partition("#title=")[2]
        title = unquote(fragment.partition("&")[0])
    return f"text:{corpus}#{' '.join(fold(title).split())}"
