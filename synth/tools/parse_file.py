"""`parse_file(files: list[str])`: the text of PDF, DOCX, XLSX, CSV/TSV, TXT (and HTML, JSON) files.

Files are read only from inside one allowed directory (paths relative to it, or file:// URLs into it);
http(s) URLs are fetched only when allowed. DOCX and XLSX are zipped XML and are read with zipfile and
lxml; PDF needs the optional `pypdf`.

One call reads at most `max_files` files (the rest are named in a note, to ask for in another call) and
returns at most `max_chars` characters of file text in all, shared fairly: a short file is given whole, the
long ones split what is left.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from lxml import etree
from lxml import html as lxml_html

from drsynth.synth.tools.base import Tool, ToolError, ToolResult, TransientToolError

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
S = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def _xml(archive: zipfile.ZipFile, name: str) -> etree._Element | None:
    try:
        return etree.fromstring(archive.read(name), _XML_PARSER)
    except KeyError:
        return None


def docx_text(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        root = _xml(archive, "word/document.xml")
    if root is None:
        raise ToolError("not a DOCX file (word/document.xml is missing)")
    body = root.find(f"{W}body")
    lines: list[str] = []
    for block in (body if body is not None else root):
        if block.tag == f"{W}p":
            lines.append(_paragraph(block))
        elif block.tag == f"{W}tbl":
            for row in block.iter(f"{W}tr"):
                cells = [" ".join(_paragraph(p) for p in cell.iter(f"{W}p")).strip() for cell in row.iter(f"{W}tc")]
                lines.append(" | ".join(cells))
    return "\n".join(line for line in lines if line.strip())


def _paragraph(p: etree._Element) -> str:
    out = []
    for node in p.iter(f"{W}t", f"{W}tab", f"{W}br"):
        out.append(node.text or "" if node.tag == f"{W}t" else ("\t" if node.tag == f"{W}tab" else "\n"))
    return "".join(out)


def xlsx_text(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        shared = []
        strings = _xml(archive, "xl/sharedStrings.xml")
        if strings is not None:
            shared = ["".join(t.text or "" for t in si.iter(f"{S}t")) for si in strings.iter(f"{S}si")]
        workbook = _xml(archive, "xl/workbook.xml")
        if workbook is None:
            raise ToolError("not an XLSX file (xl/workbook.xml is missing)")
        rels = _xml(archive, "xl/_rels/workbook.xml.rels")
        targets = {r.get("Id"): r.get("Target") for r in rels} if rels is not None else {}
        sections = []
        for n, sheet in enumerate(workbook.iter(f"{S}sheet"), 1):
            target = targets.get(sheet.get(R_ID)) or f"worksheets/sheet{n}.xml"
            target = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
            root = _xml(archive, target)
            if root is None:
                continue
            rows = []
            for row in root.iter(f"{S}row"):
                cells = []
                for cell in row.iter(f"{S}c"):
                    kind, value = cell.get("t"), cell.find(f"{S}v")
                    if kind == "s" and value is not None and value.text and value.text.isdigit():
                        index = int(value.text)
                        cells.append(shared[index] if index < len(shared) else "")
                    elif kind == "inlineStr":
                        cells.append("".join(t.text or "" for t in cell.iter(f"{S}t")))
                    else:
                        cells.append(value.text if value is not None and value.text else "")
                rows.append(" | ".join(cells))
            sections.append(f"## Sheet: {sheet.get('name') or n}\n" + "\n".join(rows))
    return "\n\n".join(sections)


def pdf_text(data: bytes) -> str:
    try:
        import pypdf
    except ImportError:
        raise ToolError("PDF support needs pypdf, which is not installed") from None
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages)
    except Exception as exc:
        raise ToolError(f"the PDF could not be read: {type(exc).__name__}: {exc}") from None


def delimited_text(data: bytes, delimiter: str) -> str:
    text = data.decode("utf-8-sig", "replace")
    return "\n".join(" | ".join(row) for row in csv.reader(io.StringIO(text), delimiter=delimiter))


def html_text(data: bytes) -> str:
    tree = lxml_html.fromstring(data)
    for bad in tree.xpath("//script|//style"):
        bad.drop_tree()
    return "\n".join(line.strip() for line in tree.text_content().splitlines() if line.strip())


def file_text(name: str, data: bytes) -> str:
    """The text of a file from its bytes; the type comes from the extension, then from the content."""
    ext = Path(urlsplit(name).path).suffix.lower()
    if ext == ".pdf" or data.startswith(b"%PDF-"):
        return pdf_text(data)
    if ext in (".docx", ".xlsx") or data.startswith(b"PK"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
        except zipfile.BadZipFile:
            raise ToolError(f"{name} is not a valid {ext or 'zip'} file") from None
        if "word/document.xml" in names:
            return docx_text(data)
        if "xl/workbook.xml" in names:
            return xlsx_text(data)
        raise ToolError(f"{name}: unsupported zipped format")
    if ext in (".csv", ".tsv"):
        return delimited_text(data, "\t" if ext == ".tsv" else ",")
    if ext in (".html", ".htm"):
        return html_text(data)
    if ext == ".json":
        return json.dumps(json.loads(data), indent=1, ensure_ascii=False)
    if ext in ("", ".txt", ".md", ".text", ".log", ".xml", ".jsonl", ".py"):
        return data.decode("utf-8", "replace")
    raise ToolError(f"{name}: unsupported file type {ext!r} (supported: PDF, DOCX, XLSX, CSV, TSV, TXT, HTML, JSON)")


class ParseFile(Tool):
    name = "parse_file"
    description = "Parse user-uploaded local files (PDF, DOCX, XLSX, CSV, TXT, ...) and return their text."
    parameters = {  # noqa: RUF012
        "type": "object",
        "properties": {"files": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                                 "description": "The file names (or URLs) to parse."}},
        "required": ["files"],
    }

    def __init__(self, allowed_dir: str | os.PathLike, *, max_chars: int = 20_000, max_bytes: int = 20 << 20,
                 max_files: int = 5, allow_http: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if max_files < 1 or max_chars < 1:
            raise ValueError("parse_file needs max_files >= 1 and max_chars >= 1")
        self.allowed_dir = os.path.realpath(allowed_dir)
        self.max_chars = max_chars  # file text in all, per call
        self.max_files = max_files
        self.max_bytes = max_bytes
        self.allow_http = allow_http

    @property
    def endpoint(self) -> str:
        return f"files:{self.allowed_dir}"

    def cache_identity(self) -> dict:
        return {"dir": self.allowed_dir, "max_chars": self.max_chars, "max_files": self.max_files}

    def _path(self, name: str) -> str:
        if name.startswith("file://"):
            name = unquote(urlsplit(name).path)
        path = os.path.realpath(os.path.join(self.allowed_dir, name))
        if not (path == self.allowed_dir or path.startswith(self.allowed_dir + os.sep)):
            raise ToolError(f"{name} is outside the directory of files that may be read")
        if not os.path.isfile(path):
            raise ToolError(f"{name}: no such file")
        if os.path.getsize(path) > self.max_bytes:
            raise ToolError(f"{name} is larger than {self.max_bytes} bytes")
        return path

    async def _read(self, name: str) -> bytes:
        if name.startswith(("http://", "https://")):
            if not self.allow_http:
                raise ToolError(f"{name}: fetching files over HTTP is disabled")
            try:
                async with httpx.AsyncClient(timeout=30.0, follow_redirects=True) as client:
                    response = await client.get(name)
            except (httpx.TimeoutException, httpx.NetworkError) as exc:
                raise TransientToolError(f"{name}: {type(exc).__name__}") from None
            if response.status_code >= 400:
                raise ToolError(f"{name}: HTTP {response.status_code}")
            return response.content[: self.max_bytes]
        return await asyncio.to_thread(Path(self._path(name)).read_bytes)

    async def run(self, arguments: dict) -> ToolResult:
        names = [n.strip() for n in arguments["files"] if n.strip()]
        if not names:
            raise ToolError("no file given")
        names, skipped = names[: self.max_files], names[self.max_files:]
        texts: list[str | None] = []
        parts: list[str] = []
        failed = 0
        for name in names:
            try:
                text = await asyncio.to_thread(file_text, name, await self._read(name))
            except TransientToolError:
                raise
            except ToolError as exc:
                failed += 1
                texts.append(None)
                parts.append(f"# {name}\nError: {exc}")
                continue
            except (ValueError, etree.XMLSyntaxError, zipfile.BadZipFile) as exc:
                failed += 1
                texts.append(None)
                parts.append(f"# {name}\nError: the file could not be parsed: {type(exc).__name__}: {exc}")
                continue
            texts.append(text)
            parts.append("")
        shares = fair_shares([len(t) if t is not None else 0 for t in texts], self.max_chars)
        for i, (name, text) in enumerate(zip(names, texts, strict=True)):
            if text is None:
                continue
            if len(text) > shares[i]:
                text = text[: shares[i]] + f"\n... [cut: {len(text) - shares[i]} more characters]"
            parts[i] = f"# {name}\n{text}"
        if skipped:
            parts.append(f"Not parsed: at most {self.max_files} files per call; ask again for "
                         + ", ".join(skipped[:20]) + (f" and {len(skipped) - 20} more" if len(skipped) > 20 else ""))
        return ToolResult("\n\n".join(parts), error="parse_failed" if failed == len(names) else None)


def fair_shares(sizes: list[int], budget: int) -> list[int]:
    """Characters each text may keep so that they sum to at most `budget`: the short ones whole, the long ones
    an equal split of the rest."""
    shares = [0] * len(sizes)
    left = budget
    order = sorted(range(len(sizes)), key=lambda i: sizes[i])
    for done, i in enumerate(order):
        shares[i] = min(sizes[i], left // (len(sizes) - done))
        left -= shares[i]
    return shares
