"""The Tongyi-compatible ReAct message format (DESIGN §6): the system prompt, and parsing of assistant turns.

An assistant turn is `<think>...</think>` followed by exactly one of

    <tool_call>
    {"name": "search", "arguments": {"query": ["..."]}}
    </tool_call>

    <tool_call>
    {"name": "PythonInterpreter", "arguments": {}}
    <code>
    print(1 + 1)
    </code>
    </tool_call>

    <answer>...</answer>

and, in context-management mode, a `<report>...</report>` (the agent's compressed memory) before the
action. Tool results go back as a user message `<tool_response>\\n...\\n</tool_response>`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

# starts a line of a final <think> whose answer the policy could not confirm; the filter rejects such a
# trajectory (`unverified_answer`), so lucky guesses never become training data
UNVERIFIED_MARK = "Unverified:"

ROLE_LINE = (
    "You are a deep research assistant. Your core function is to conduct thorough, multi-source "
    "investigations into any topic. You must handle both broad, open-domain inquiries and queries within "
    "specialized academic fields. For every request, synthesize information from credible, diverse sources "
    "to deliver a comprehensive, accurate, and objective response. When you have gathered sufficient "
    "information and are ready to provide the definitive response, you must enclose the entire final answer "
    "within <answer></answer> tags."
)

CALL_FORMAT = (
    "For each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n"
    "<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n'
    "</tool_call>\n"
    "For the Python interpreter, put the code in <code></code> tags after the JSON, inside the tool call:\n"
    "<tool_call>\n"
    '{"name": <python-function-name>, "arguments": {}}\n'
    "<code>\n"
    "# your code here\n"
    "</code>\n"
    "</tool_call>\n"
    "Think inside <think></think> before each action. Make at most one tool call per turn."
)

REPORT_INSTRUCTIONS = (
    "# Memory\n\n"
    "You do not see the whole conversation. Each round you see the question, your report so far and your "
    "last action with its result. Each round, first rewrite the report inside <report></report>: keep every "
    "fact, source and open lead that still matters, drop what does not. Then make one tool call, or give "
    "the final answer."
)

SYNTHESIS_LINE = (
    "You are a deep research assistant. Several independent research agents investigated the same question. "
    "Weigh their reports and answers, resolve disagreements by the strength of their evidence, and give the "
    "definitive answer within <answer></answer> tags."
)

FORCE_ANSWER = {
    "call_limit": "You have reached the maximum number of tool calls. Do not call any more tools: based on "
                  "what you have found, give your final answer now within <answer></answer> tags.",
    "token_limit": "You have reached the maximum context length. Do not call any more tools: based on what "
                   "you have found, give your final answer now within <answer></answer> tags.",
    "turn_limit": "You have reached the maximum number of turns. Do not call any more tools: based on what "
                  "you have found, give your final answer now within <answer></answer> tags.",
}


def tool_signatures(schemas: Iterable[dict]) -> str:
    """One JSON object per line, as Qwen/Tongyi chat templates render them."""
    return "\n".join(json.dumps(s, ensure_ascii=False) for s in schemas)


def system_prompt(schemas: Iterable[dict], today: str, *, context_mode: bool = False) -> str:
    parts = [
        ROLE_LINE,
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n"
        f"<tools>\n{tool_signatures(schemas)}\n</tools>",
        CALL_FORMAT,
    ]
    if context_mode:
        parts.append(REPORT_INSTRUCTIONS)
    parts.append(f"Current date: {today}")
    return "\n\n".join(parts)


def tool_response(text: str) -> str:
    return f"<tool_response>\n{text}\n</tool_response>"


def render_call(name: str, arguments: dict, code: str | None = None) -> str:
    """The `<tool_call>` block for a call (code, when given, goes in `<code>` after the JSON)."""
    body = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
    if code is not None:
        body += f"\n<code>\n{code}\n</code>"
    return f"<tool_call>\n{body}\n</tool_call>"


def render_turn(think: str, *, call: ToolCall | None = None, answer: str | None = None,
                report: str | None = None) -> str:
    """An assistant turn in the exact format the parser reads (what the scripted policy emits)."""
    out = f"<think>\n{think}\n</think>\n"
    if report is not None:
        out += f"<report>\n{report}\n</report>\n"
    if call is not None:
        out += render_call(call.name, {k: v for k, v in call.arguments.items() if k != "code" or not call.code},
                           call.code)
    elif answer is not None:
        out += f"<answer>{answer}</answer>"
    return out


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict = field(default_factory=dict)
    code: str | None = None  # the <code> block, also passed to the tool as arguments["code"]


@dataclass(frozen=True)
class Turn:
    think: str = ""
    call: ToolCall | None = None
    answer: str | None = None
    report: str | None = None
    error: str | None = None  # a format error, phrased for the model

    @property
    def action(self) -> str:
        """The turn without its thinking and report: what the next context-mode round shows as the action."""
        if self.call is not None:
            args = {k: v for k, v in self.call.arguments.items() if k != "code" or not self.call.code}
            return render_call(self.call.name, args, self.call.code)
        if self.answer is not None:
            return f"<answer>{self.answer}</answer>"
        return ""


def _blocks(text: str, tag: str) -> list[str]:
    """Contents of every `<tag>...</tag>`; an unclosed last block runs to the end of the text (a stop string
    cut it off)."""
    found = re.findall(rf"<{tag}>(.*?)(?:</{tag}>|(?=<{tag}>)|\Z)", text, flags=re.S)
    return [f.strip() for f in found]


def parse_turn(text: str) -> Turn:
    """Parse one assistant turn; never raises. A malformed turn comes back with `error` set."""
    text = text or ""
    think = "\n".join(_blocks(text, "think"))
    reports = _blocks(text, "report")
    report = reports[-1] if reports else None
    # what is outside <think> decides the action: a model may mention tags while thinking
    outside = re.sub(r"<think>.*?(?:</think>|\Z)", "", text, flags=re.S)
    outside = re.sub(r"<report>.*?(?:</report>|\Z)", "", outside, flags=re.S)
    calls = _blocks(outside, "tool_call")
    answers = _blocks(outside, "answer")
    if len(calls) > 1:
        return Turn(think, report=report, error=f"{len(calls)} tool calls in one turn: make exactly one "
                                                "tool call per turn.")
    if calls and answers:
        return Turn(think, report=report, error="a tool call and an answer in one turn: give either one "
                                                "tool call or the final answer.")
    if answers:
        return Turn(think, answer=answers[0], report=report)
    if not calls:
        return Turn(think, report=report, error="no <tool_call> and no <answer> found: call one tool inside "
                                                "<tool_call></tool_call> or give the final answer inside "
                                                "<answer></answer>.")
    call, error = parse_call(calls[0])
    return Turn(think, call=call, report=report, error=error)


def parse_call(body: str) -> tuple[ToolCall | None, str | None]:
    code = None
    codes = _blocks(body, "code")
    if codes:
        code = codes[0]
        body = re.sub(r"<code>.*?(?:</code>|\Z)", "", body, flags=re.S)
    body = body.strip()
    if body.startswith("```"):  # a fenced JSON block
        body = re.sub(r"^```(?:json)?\s*|\s*```$", "", body)
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        return None, f"the tool call is not valid JSON ({exc.msg} at position {exc.pos}): write " \
                     '{"name": ..., "arguments": {...}} inside <tool_call></tool_call>.'
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not data["name"]:
        return None, 'the tool call must be a JSON object with a "name" string and an "arguments" object.'
    arguments = data.get("arguments", {})
    if isinstance(arguments, str):  # some models encode the arguments as a JSON string
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            return None, 'the tool call\'s "arguments" must be a JSON object.'
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        return None, 'the tool call\'s "arguments" must be a JSON object.'
    if code is not None:
        arguments = {**arguments, "code": code}
    return ToolCall(data["name"], arguments, code), None


def observation_text(message: str) -> str:
    """The text inside a `<tool_response>` user message (the message itself when it has none)."""
    blocks = _blocks(message, "tool_response")
    return blocks[0] if blocks else message


# --- context-management rounds -------------------------------------------------------------------------

def context_prompt(question: str, report: str, last_action: str, observation: str | None) -> str:
    """What the agent sees in one context-management round, besides the system prompt."""
    parts = [f"Question: {question}", f"<report>\n{report}\n</report>"]
    if last_action:
        parts.append(f"Last action:\n{last_action}")
    if observation is not None:
        parts.append(tool_response(observation))
    return "\n\n".join(parts)


def parse_context_prompt(text: str) -> tuple[str, str, str, str | None]:
    """(question, report, last action, observation) back out of `context_prompt`."""
    match = re.match(r"Question: (.*?)\n\n<report>\n", text, flags=re.S)
    question = match.group(1) if match else ""
    reports = _blocks(text, "report")
    report = reports[0] if reports else ""
    action = ""
    found = re.search(r"Last action:\n(.*?)(?:\n\n<tool_response>|\Z)", text, flags=re.S)
    if found:
        action = found.group(1).strip()
    observations = _blocks(text.split("Last action:", 1)[-1], "tool_response") if found else []
    return question, report, action, observations[0] if observations else None
