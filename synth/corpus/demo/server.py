"""A real local HTTP server for the demo encyclopedia.

The demo pipeline crawls over actual HTTP (status codes, redirects, content types, robots.txt) rather
than reading files, so the crawler under test is the one that runs against the web. Routing mimics a
wiki: `/` is the main page, `/wiki/Title` (with or without a query string or trailing slash) is
`site/wiki/Title.html`, and the aliases in `site/_redirects.json` answer 301.

    with DemoSiteServer() as srv:
        httpx.get(srv.base_url + "/wiki/Estavia")
        assert srv.hits["/private/drafts.html"] == 0

`python -m drsynth.synth.corpus.demo.server --port 8000` serves it for browsing.
"""

from __future__ import annotations

import argparse
import json
import logging
import posixpath
import sys
import threading
import urllib.parse
from collections import Counter
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

from drsynth.synth.corpus.demo import SITE_DIR

log = logging.getLogger(__name__)

CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"

NOT_FOUND_BODY = (
    b'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Not found</title></head>'
    b"<body><h1>404 Not Found</h1><p>There is no page at this address.</p>"
    b'<p><a href="/">Main page</a></p></body></html>\n'
)


class HitCounter(Counter[str]):
    """Requests per path; handler threads increment it concurrently, tests read it."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def hit(self, path: str) -> None:
        # Counter's += is a read-modify-write, not atomic across handler threads
        with self._lock:
            self[path] += 1


def load_redirects(site_dir: Path) -> dict[str, str]:
    path = site_dir / "_redirects.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(k).rstrip("/"): str(v) for k, v in data.items()}


class _SiteHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # the port is usually 0 (ephemeral); reuse avoids TIME_WAIT failures on fixed ports in reruns
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], site_dir: Path, hits: HitCounter) -> None:
        super().__init__(address, _Handler)
        self.site_dir = site_dir.resolve()
        self.redirects = load_redirects(self.site_dir)
        self.hits = hits

    def handle_error(self, request: object, client_address: object) -> None:
        # a crawler that drops the connection once it has seen a refused content type is normal
        # traffic, not an error; anything else goes to logging instead of a traceback on stderr
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return
        log.warning("demo site: error handling a request from %s", client_address, exc_info=exc)


class _Handler(BaseHTTPRequestHandler):
    server: _SiteHTTPServer
    server_version = "HalvardDemo/1.0"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        # one line per request on stderr drowns test and demo output; `hits` keeps the counts
        return

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def _respond(self, *, send_body: bool) -> None:
        raw_path = urllib.parse.urlsplit(self.path).path or "/"
        path = urllib.parse.unquote(raw_path)
        self.server.hits.hit(path)

        target = self.server.redirects.get(path.rstrip("/"))
        if target is not None:
            self._send(
                HTTPStatus.MOVED_PERMANENTLY,
                b"",
                "text/html; charset=utf-8",
                send_body,
                extra={"Location": target},
            )
            return

        file = self._resolve(path)
        if file is None:
            self._send(HTTPStatus.NOT_FOUND, NOT_FOUND_BODY, "text/html; charset=utf-8", send_body)
            return
        content_type = CONTENT_TYPES.get(file.suffix.lower(), DEFAULT_CONTENT_TYPE)
        self._send(HTTPStatus.OK, file.read_bytes(), content_type, send_body)

    def _resolve(self, path: str) -> Path | None:
        """The file a URL path names, or None; never anything outside the site directory."""
        if "\x00" in path or "\\" in path:
            return None
        # any '..' segment is refused outright, before normalisation could quietly absorb it
        if ".." in path.split("/"):
            return None
        norm = posixpath.normpath("/" + path.lstrip("/"))
        if norm == "/":
            rel = "index.html"
        elif norm.startswith("/wiki/"):
            title = norm[len("/wiki/") :]
            if not title or "/" in title:
                return None
            rel = f"wiki/{title}.html"
        else:
            rel = norm.lstrip("/")
        # underscore files (_redirects.json) are server configuration, not content
        if any(part.startswith("_") or part.startswith(".") for part in rel.split("/")):
            return None
        site = self.server.site_dir
        candidate = (site / rel).resolve()
        if not candidate.is_relative_to(site) or not candidate.is_file():
            return None
        return candidate

    def _send(
        self,
        status: HTTPStatus,
        body: bytes,
        content_type: str,
        send_body: bool,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if send_body and body:
            self.wfile.write(body)


class DemoSiteServer:
    """The demo site on a background thread; a context manager that starts and stops it."""

    def __init__(self, site_dir: Path = SITE_DIR, host: str = "127.0.0.1", port: int = 0) -> None:
        self.site_dir = Path(site_dir)
        self.host = host
        self.requested_port = port
        self.hits = HitCounter()
        self._httpd: _SiteHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> DemoSiteServer:
        if self._httpd is not None:
            return self
        if not (self.site_dir / "index.html").is_file():
            raise FileNotFoundError(f"no demo site at {self.site_dir}")
        self._httpd = _SiteHTTPServer((self.host, self.requested_port), self.site_dir, self.hits)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name=f"demo-site:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> DemoSiteServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the demo encyclopedia for manual browsing.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--site-dir", type=Path, default=SITE_DIR)
    args = parser.parse_args(argv)
    server = DemoSiteServer(site_dir=args.site_dir, host=args.host, port=args.port).start()
    print(f"serving {server.site_dir} at {server.base_url}/ (Ctrl-C to stop)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
