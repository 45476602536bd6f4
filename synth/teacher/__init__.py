"""One async client for OpenAI-compatible teacher endpoints, its response cache and its `requests` rows."""

from drsynth.synth.teacher.cache import ResponseCache, default_cache, default_cache_path, request_key
from drsynth.synth.teacher.client import ChatResult, TeacherClient, run_blocking
from drsynth.synth.teacher.config import TeacherConfig
from drsynth.synth.teacher.requests_log import RequestLog, request_row

__all__ = ["ChatResult", "RequestLog", "ResponseCache", "TeacherClient", "TeacherConfig", "default_cache",
           "default_cache_path", "request_key", "request_row", "run_blocking"]
