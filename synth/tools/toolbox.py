"""The default set of agent tools over a store: search, visit, PythonInterpreter (+ scholar, parse_file)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from drsynth.storage.store import Store
from drsynth.synth.tools.base import Cache, Toolbox
from drsynth.synth.tools.parse_file import ParseFile
from drsynth.synth.tools.python_sandbox import PythonInterpreter, SandboxLimits
from drsynth.synth.tools.scholar import GoogleScholar
from drsynth.synth.tools.search import HostedSearchAPI, Search, SearchIndex, default_index_path
from drsynth.synth.tools.visit import CorpusPages, Visit

if TYPE_CHECKING:
    from drsynth.synth.teacher.client import TeacherClient
    from drsynth.synth.teacher.requests_log import RequestLog

SEARCH_API_URL_ENV = "DRSYNTH_SEARCH_API_URL"
SCHOLAR_API_URL_ENV = "DRSYNTH_SCHOLAR_API_URL"


def default_toolbox(store: Store, *, log: RequestLog | None, teacher: TeacherClient | None = None,
                    scratch_root: str | os.PathLike | None = None, index_path: str | os.PathLike | None = None,
                    cache: Cache | str | os.PathLike | None = None, search_api_url: str | None = None,
                    scholar_api_url: str | None = None, api_key_env: str = "SERPER_API_KEY",
                    files_dir: str | os.PathLike | None = None, allow_http: bool = False,
                    sandbox: SandboxLimits | None = None, update_index: bool = True) -> Toolbox:
    """search + visit + PythonInterpreter, with google_scholar when a scholar API URL is configured and
    parse_file when a files directory is given.

    Search uses the hosted API when `search_api_url` (or $DRSYNTH_SEARCH_API_URL) is set, else the local
    index of `documents` at `index_path` (default `<root>/_index/search.sqlite`), brought up to date
    first unless `update_index` is False. API keys are read from the environment variable
    `api_key_env` at call time. `cache`: a path shares one persistent ResponseCache between the tools;
    None gives each tool an in-memory LRU.
    """
    common = {"log": log, "cache": cache}
    search_api_url = search_api_url or os.environ.get(SEARCH_API_URL_ENV)
    scholar_api_url = scholar_api_url or os.environ.get(SCHOLAR_API_URL_ENV)
    if search_api_url:
        backend: SearchIndex | HostedSearchAPI = HostedSearchAPI(search_api_url, key_env=api_key_env)
    else:
        backend = SearchIndex(index_path or default_index_path(store))
        if update_index:
            backend.update(store)
    tools = [
        Search(backend, **common),
        Visit(CorpusPages(store), teacher=teacher, allow_http=allow_http, **common),
        PythonInterpreter(scratch_root=scratch_root, limits=sandbox, **common),
    ]
    if scholar_api_url:
        tools.append(GoogleScholar(HostedSearchAPI(scholar_api_url, key_env=api_key_env), **common))
    if files_dir is not None:
        tools.append(ParseFile(files_dir, allow_http=allow_http, **common))
    return Toolbox(tools)
