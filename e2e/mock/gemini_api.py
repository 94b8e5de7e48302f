"""A scripted Gemini API (`generateContent`, `streamGenerateContent?alt=sse`,
`countTokens`) on loopback, for the real Gemini CLI.

The conversation is chosen from each request's content, never from a global
counter: the run is named by a marker in the user's prompt, the step by the id
of the last tool call answered (`functionResponse.id` echoes the
`functionCall.id` this mock gave). Side requests are told apart by their shape:
the model router and other utilities ask for JSON (`responseJsonSchema`), chat
compression has a `<state_snapshot>` system prompt, a subagent has the
`complete_task` tool.

Every response has its own token figures (`usageMetadata`): `USAGE` (main
conversation and subagent, by step key) and `SIDE_USAGE` (router, compression),
and `GeminiMock.served` lists what actually went out, in order (key, role
main/subagent/side, model, HTTP status, usage), so the checks and the
tokens-and-cost work can compare the agent's transcript with them. Gemini's
`promptTokenCount` includes `cachedContentTokenCount`; `candidatesTokenCount`
excludes `thoughtsTokenCount`. The CLI's transcript records them as
`tokens.{input, cached, output, thoughts}`; router and compression calls are not
in it.
"""

import json
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import Response, json_response, sse  # noqa: E402

RUN_ONE = "KAIZEN-E2E-RUN-ONE"
RUN_TWO = "KAIZEN-E2E-RUN-TWO"
RUN_THREE = "KAIZEN-E2E-RUN-THREE"

PROMPTS = {
    RUN_ONE: f"{RUN_ONE}: run the scripted steps (shell, failing shell, write, edit, read, missing read, "
    "two parallel calls, a subagent).",
    RUN_TWO: f"{RUN_TWO}: continue the same session (a command, a compaction, a denied command).",
    RUN_THREE: f"{RUN_THREE}: one more turn, which the model fails.",
}

# A file the failing read asks for; it never exists.
MISSING_FILE = "does-not-exist.txt"
# Denied by the policy file the agent module installs (`commandPrefix`).
DENIED_COMMAND = "rm -f notes.txt"
DENY_POLICY = """[[rule]]
toolName = "run_shell_command"
commandPrefix = "rm -f"
decision = "deny"
priority = 900
"""
# Asked in run one and again in run two, with the very same arguments.
SAME_CALL = {"command": "echo kaizen-ok", "description": "print a word"}
# A prompt this large (over half the 1,048,576-token window) makes the CLI
# compress the history before its next model call.
COMPACTION_PROMPT_TOKENS = 700_101


def usage(prompt, cached, output, thoughts=0):
    meta = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": output,
        "totalTokenCount": prompt + output + thoughts,
    }
    if cached:
        meta["cachedContentTokenCount"] = cached
    if thoughts:
        meta["thoughtsTokenCount"] = thoughts
    return meta


def main_usage(n):
    """The n-th main-conversation response (1-based): input 1101, 1202, ...; cached 211, 222, ...;
    output 31, 32, ...; thoughts 8, 9, ..."""
    return usage(1000 + 101 * n, 200 + 11 * n, 30 + n, 7 + n)


def call(name, args, call_id):
    return {"functionCall": {"name": name, "args": args, "id": call_id}}


def thought(text):
    return {"text": text, "thought": True}


def text(t):
    return {"text": t}


# The main conversation: (key, parts, usageMetadata). The key names the step and
# is the prefix of every functionCall id it makes.
SCRIPT = {
    RUN_ONE: [
        ("r1-shell-ok", [thought("Run a command."), call("run_shell_command", SAME_CALL, "r1-shell-ok")]),
        (
            "r1-shell-fail",
            [call("run_shell_command", {"command": "echo about-to-fail >&2; exit 2", "description": "a failing command"}, "r1-shell-fail")],
        ),
        (
            "r1-write",
            [call("write_file", {"file_path": "created.txt", "content": "made by the e2e suite\n"}, "r1-write")],
        ),
        (
            "r1-edit",
            [
                call(
                    "replace",
                    {"file_path": "notes.txt", "instruction": "Capitalise beta.", "old_string": "beta", "new_string": "BETA"},
                    "r1-edit",
                )
            ],
        ),
        ("r1-read", [call("read_file", {"file_path": "notes.txt"}, "r1-read")]),
        ("r1-read-missing", [call("read_file", {"file_path": MISSING_FILE}, "r1-read-missing")]),
        (
            "r1-parallel",
            [
                thought("Two things at once."),
                call("run_shell_command", {"command": "echo parallel-one", "description": "first of two"}, "r1-parallel-a"),
                call("read_file", {"file_path": "README.md"}, "r1-parallel-b"),
            ],
        ),
        (
            "r1-subagent",
            [
                call(
                    "invoke_agent",
                    {"agent_name": "generalist", "prompt": "Run `echo from-subagent` and report what it printed."},
                    "r1-subagent",
                )
            ],
        ),
        # The first request for this step gets an overloaded error; the CLI retries it.
        ("r1-final", [text("Run one is done: every step ran.")]),
    ],
    RUN_TWO: [
        # The very same call as run one's first (Gemini's hooks carry no call id: a derived one must not collide).
        ("r2-shell", [call("run_shell_command", SAME_CALL, "r2-shell")]),
        # Asked after the compaction that the previous response's huge prompt caused.
        ("r2-denied", [call("run_shell_command", {"command": DENIED_COMMAND, "description": "denied by policy"}, "r2-denied")]),
        ("r2-final", [text("Run two is done.")]),
    ],
    # Every request of run three fails (400, not retried): the turn ends on a model error.
    RUN_THREE: [("r3-error", None)],
}
# Steps whose first request answers an error (the CLI retries it after ~5 s).
FAIL_ONCE = {"r1-final": (503, "UNAVAILABLE", "The model is overloaded. Please try again later.")}
FAIL_ALWAYS = {"r3-error": (400, "INVALID_ARGUMENT", "mock: this request is refused (scripted model error).")}
# The response whose prompt figure makes the CLI compress before the next call.
HUGE_PROMPT_STEP = "r2-shell"

SUBAGENT = [
    ("sub-shell", [call("run_shell_command", {"command": "echo from-subagent", "description": "the subagent's command"}, "sub-shell")]),
    ("sub-done", None),  # complete_task, filled from the tool's own schema
]


def _usage_for(key):
    order = [k for run in (RUN_ONE, RUN_TWO, RUN_THREE) for k, _ in SCRIPT[run]]
    n = order.index(key) + 1
    if key == HUGE_PROMPT_STEP:
        return usage(COMPACTION_PROMPT_TOKENS, 300_011, 30 + n, 7 + n)
    return main_usage(n)


# The figures of every response this mock can give, by key (main steps, subagent steps and side requests).
USAGE = {k: _usage_for(k) for run in SCRIPT.values() for k, _ in run}
USAGE.update({"sub-shell": usage(2101, 0, 41, 12), "sub-done": usage(2202, 0, 42, 13)})
SIDE_USAGE = {
    "router": usage(5101, 0, 61),
    "json": usage(5202, 0, 62),
    "compress": usage(6101, 0, 71, 21),
    "compress-verify": usage(6202, 0, 72, 22),
    "title": usage(5303, 0, 63),
    "other": usage(5404, 0, 64),
}
# Which responses the agent's main transcript should record (the main conversation).
MAIN_KEYS = [k for run in (RUN_ONE, RUN_TWO) for k, _ in SCRIPT[run]]


class GeminiMock:
    """The app for common.MockServer; `served` lists what was answered, in order."""

    def __init__(self):
        self.served = []  # dicts: key, role, model, path, status, usage
        self.failed_once = set()
        self.lock = threading.Lock()

    def __call__(self, req):
        path = req.path.partition("?")[0]
        if req.method != "POST" or "/models/" not in path:
            return self._record("not-found", "other", None, req.path, json_response(_error(404, "NOT_FOUND", f"mock: no such endpoint {req.path}"), 404))
        model, _, method = path.rsplit("/", 1)[-1].partition(":")
        body = req.json() or {}
        if method == "countTokens":
            return json_response({"totalTokens": 900})
        stream = method == "streamGenerateContent"
        role, key, parts = self._choose(body)
        status = None
        with self.lock:
            if key in FAIL_ALWAYS or (key in FAIL_ONCE and key not in self.failed_once):
                self.failed_once.add(key)
                status = (FAIL_ALWAYS.get(key) or FAIL_ONCE[key])
        if status:
            code, name, message = status
            return self._record(key, role, model, req.path, json_response(_error(code, name, message), code), status=code)
        meta = USAGE.get(key) or SIDE_USAGE.get(key) or SIDE_USAGE["other"]
        final = {
            "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": meta,
            "modelVersion": model,
            "responseId": f"resp-{key}-{len(self.served)}",
        }
        if not stream:
            return self._record(key, role, model, req.path, json_response(final), usage=meta)
        # Streamed: text and thoughts first, the call(s), finish reason and usage last.
        head = [p for p in parts if "text" in p]
        chunks = []
        if head and len(parts) > 1:
            chunks.append({"candidates": [{"content": {"role": "model", "parts": head}, "index": 0}], "modelVersion": model, "responseId": final["responseId"]})
            final = json.loads(json.dumps(final))
            final["candidates"][0]["content"]["parts"] = [p for p in parts if "text" not in p]
        chunks.append(final)
        return self._record(key, role, model, req.path, sse((None, c) for c in chunks), usage=meta)

    def _record(self, key, role, model, path, response: Response, status=200, usage=None):
        with self.lock:
            self.served.append({"key": key, "role": role, "model": model, "path": path, "status": status, "usage": usage})
        return response

    def _choose(self, body):
        """(role, key, parts) for a request."""
        config = body.get("generationConfig") or {}
        system = _text_of((body.get("systemInstruction") or {}).get("parts", []))
        tools = [f.get("name") for t in body.get("tools") or [] for f in t.get("functionDeclarations") or []]
        contents = body.get("contents") or []
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
        if schema:
            key = "router" if "complexity" in json.dumps(schema) else "json"
            return "side", key, [text(json.dumps(_fill(schema)))]
        if "state_snapshot" in system:
            verify = "Critically evaluate" in _text_of((contents[-1] if contents else {}).get("parts", []))
            key = "compress-verify" if verify else "compress"
            return "side", key, [text("<state_snapshot>\nThe e2e session ran its scripted steps.\n</state_snapshot>")]
        if "complete_task" in tools:
            return "subagent", *self._subagent(body, contents)
        run = _run_of(contents)
        if run is None:
            return "side", "other", [text("ok")]
        answered = _answered_ids(contents)
        steps = SCRIPT[run]
        done = {k for k, _ in steps if any(i == k or i.startswith(k + "-") for i in answered)}
        for key, parts in steps:
            if key not in done:
                return "main", key, parts
        return "main", steps[-1][0], steps[-1][1]

    def _subagent(self, body, contents):
        answered = _answered_ids(contents)
        if "sub-shell" not in answered:
            return SUBAGENT[0]
        decl = next(
            f for t in body.get("tools") or [] for f in t.get("functionDeclarations") or [] if f.get("name") == "complete_task"
        )
        schema = decl.get("parametersJsonSchema") or decl.get("parameters") or {}
        args = _fill(schema, "The subagent ran `echo from-subagent`; it printed from-subagent.")
        return "sub-done", [call("complete_task", args, "sub-done")]

    def main_served(self):
        return [s for s in self.served if s["role"] == "main" and s["status"] == 200]


def _error(code, status, message):
    return {"error": {"code": code, "message": message, "status": status}}


def _text_of(parts):
    return "\n".join(p.get("text", "") for p in parts if isinstance(p, dict))


def _run_of(contents):
    """The run named by the latest user prompt that carries a marker."""
    for content in reversed(contents):
        if content.get("role") != "user":
            continue
        t = _text_of(content.get("parts", []))
        for marker in (RUN_THREE, RUN_TWO, RUN_ONE):
            if marker in t:
                return marker
    return None


def _answered_ids(contents):
    return [
        p["functionResponse"].get("id") or ""
        for c in contents
        for p in c.get("parts", [])
        if isinstance(p, dict) and "functionResponse" in p
    ]


def _fill(schema, words="mock"):
    """A value for a JSON schema: what the router, the next-speaker check or complete_task expect."""
    kind = str(schema.get("type") or "").lower()
    if kind == "object" or "properties" in schema:
        out = {}
        for name, sub in (schema.get("properties") or {}).items():
            if name == "complexity_score":
                out[name] = 15
            elif name == "next_speaker":
                out[name] = "user"
            else:
                out[name] = _fill(sub, words)
        return out
    if "enum" in schema:
        return schema["enum"][0]
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    return words
