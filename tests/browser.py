"""Headless Chromium driven over the DevTools protocol, for the tests that read the Prefect UI as a user
sees it (tests/test_ui.py, tests/test_deployments.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path


def chromium_binary() -> str | None:
    return next((found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))),
                None)


class Chromium:
    """Headless Chromium driven over the DevTools protocol: the Prefect UI is a single-page app that draws
    its tabs once the run is loaded, so a tab is clicked and the DOM read when the expected text shows."""

    def __init__(self, binary: str, profile: Path) -> None:
        from websockets.sync.client import connect

        self.proc = subprocess.Popen([binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                      "--no-first-run", f"--user-data-dir={profile}", "--window-size=1600,1200",
                                      "--remote-debugging-port=0", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not (profile / "DevToolsActivePort").exists():
            assert self.proc.poll() is None and time.monotonic() < deadline, "chromium did not start"
            time.sleep(0.2)
        port = (profile / "DevToolsActivePort").read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            [page] = [t for t in json.loads(answer.read()) if t["type"] == "page"][:1]
        self.ws = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        self.calls = 0

    def call(self, method: str, **params: object) -> dict:
        self.calls += 1
        self.ws.send(json.dumps({"id": self.calls, "method": method, "params": params}))
        while True:  # events in between are skipped
            message = json.loads(self.ws.recv(timeout=30))
            if message.get("id") == self.calls:
                assert "error" not in message, message
                return message["result"]

    def evaluate(self, expression: str) -> object:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def text(self) -> str:
        return str(self.evaluate("document.body ? document.body.innerText : ''"))

    def wait_for(self, *texts: str, timeout: float = 30) -> str:
        """The page's text once it holds every one of `texts` (or as it is when time is up)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if all(t in text for t in texts) or time.monotonic() > deadline:
                return text
            time.sleep(0.5)

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def click(self, label: str) -> None:
        """Click what shows `label` (the innermost element with that text, or the button or tab around it)."""
        clicked = self.evaluate(f"""(() => {{
            const found = [...document.querySelectorAll('body *')]
                .filter(e => e.children.length === 0 && e.textContent.trim() === {json.dumps(label)});
            found.forEach(e => (e.closest('button, [role=tab], a, li') || e).click());
            return found.length; }})()""")
        assert clicked, f"nothing on the page shows {label!r}"

    def screenshot(self, path: Path) -> Path:
        import base64

        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        print(f"screenshot: {path}")
        return path

    def close(self) -> None:
        self.ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
