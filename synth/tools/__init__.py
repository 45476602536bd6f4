"""Agent tools: search, visit, a Python sandbox, google_scholar and parse_file, behind one Tool interface."""

from drsynth.synth.tools.base import LRUCache, Tool, Toolbox, ToolError, ToolResult, TransientToolError
from drsynth.synth.tools.toolbox import default_toolbox

__all__ = ["LRUCache", "Tool", "ToolError", "ToolResult", "Toolbox", "TransientToolError", "default_toolbox"]
