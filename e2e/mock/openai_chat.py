"""A scripted OpenAI Chat Completions API (SSE streaming) for the real Copilot CLI (BYOK).

Copilot CLI in BYOK mode (`COPILOT_PROVIDER_BASE_URL=<mock>/v1`,
`COPILOT_PROVIDER_TYPE=openai`) posts every model call to
`/v1/chat/completions` with `stream: true` and
`stream_options: {include_usage: true}`. Each `copilot -p` run of the scenario
sends a prompt that carries a marker, `[kz:<run>]`; the subagent's task prompt
carries its own (`[kz:sub]`). The response is chosen from the request's
content, never from a global counter: a compaction request (its last user
message asks for "a detailed summary of the conversation so far") gets the
summary; otherwise the marker of the latest user message that has one names
the script, and the number of assistant messages after it is the step. A
request the script does not know (a title, an extra turn) still gets a
sensible, distinct answer. Copilot 1.0.102 makes no side requests in `-p`
mode with COPILOT_OFFLINE (no title, no model list, no quota call).

Every model response carries distinctive usage numbers, listed in `USAGE` (by
step name) so the checks, and the tokens-and-cost issue, can compare Copilot's
transcript (`session.usage_record`) and what kaizen-hook records with what was
actually served. `served` keeps each response as it went out (step, response
id, model, usage, HTTP status).

How Copilot 1.0.102 maps the wire usage into its transcript (observed):
`prompt_tokens` -> `inputTokens` (cache reads included),
`prompt_tokens_details.cached_tokens` -> `cacheReadTokens`,
`prompt_tokens_details.cache_write_tokens` -> `cacheWriteTokens`,
`completion_tokens` -> `outputTokens` (reasoning included),
`completion_tokens_details.reasoning_tokens` -> `reasoningTokens`,
the chunk `id` -> `apiCallId` and `accounting.usageId`.
"""

import json
import re
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import json_response, sse  # noqa: E402

MARKER = re.compile(r"\[kz:([a-z0-9_-]+)\]")

MODEL = "gpt-4.1"


def _usage(prompt, cached, written, completion, reasoning):
    return dict(prompt_tokens=prompt, cached_tokens=cached, cache_write_tokens=written,
                completion_tokens=completion, reasoning_tokens=reasoning)


# Distinctive usage per model response, as the OpenAI wire reports it:
# `prompt_tokens` includes the cached (read) tokens; `completion_tokens`
# includes the reasoning tokens. So for the SPEC's `Cost` fields (§11):
# tokens_in = prompt - cached - written, cache_read = cached,
# cache_creation = written, tokens_out = completion, reasoning = reasoning.
USAGE = {
    # run "main": the first session
    "main.1.bash_ok": _usage(1101, 501, 51, 31, 11),
    "main.2.bash_fail": _usage(1202, 502, 52, 32, 12),
    "main.3.create": _usage(1303, 503, 53, 33, 13),
    "main.4.edit": _usage(1404, 504, 54, 34, 14),
    "main.5.view": _usage(1505, 505, 55, 35, 15),
    "main.6.view_missing": _usage(1606, 506, 56, 36, 16),
    "main.7.parallel": _usage(1707, 507, 57, 37, 17),
    "main.8.subagent": _usage(1808, 508, 58, 38, 18),
    "main.9.final": _usage(1909, 509, 59, 39, 19),
    # the subagent's own conversation
    "sub.1.view": _usage(3101, 1001, 61, 41, 21),
    "sub.2.final": _usage(3202, 1002, 62, 42, 22),
    # run "resume": `--resume=<id>` of the same session; its first call fails once (HTTP 500)
    "resume.1.bash": _usage(5101, 2001, 71, 51, 0),
    "resume.2.final": _usage(5202, 2002, 72, 52, 0),
    # run "denied": `--deny-tool=shell(rm)`: the call is refused by permissions
    "denied.1.rm": _usage(6101, 2101, 81, 61, 23),
    "denied.2.final": _usage(6202, 2102, 82, 62, 24),
    # run "compact": background compaction (`COPILOT_BACKGROUND_COMPACTION_THRESHOLD`): the
    # summary request, and the run's own one response
    "compact.summary": _usage(7101, 3001, 91, 71, 25),
    "compact.1.final": _usage(7202, 3002, 92, 72, 26),
    # run "error": the model keeps failing (HTTP 500), no usage
    # anything the script does not know: still distinct
    "unscripted": _usage(111, 0, 0, 11, 0),
}

# Other agents' conversations on this API, each with its own figures.
CLINE_USAGE = {
    # Cline CLI (e2e/agents/cline.py): run "cline", then "cline_resume" (`cline --id <session>`)
    "cline.1.cmd_ok": _usage(2101, 601, 0, 41, 0),
    "cline.2.cmd_fail": _usage(2202, 602, 0, 42, 0),
    "cline.3.read_missing": _usage(2303, 603, 0, 43, 0),
    "cline.4.read": _usage(2404, 604, 0, 44, 0),
    "cline.5.final": _usage(2505, 605, 0, 45, 0),
    "cline_resume.1.cmd": _usage(2606, 606, 0, 46, 0),
    "cline_resume.2.final": _usage(2707, 607, 0, 47, 0),
}
OPENCODE_USAGE = {
    # OpenCode (e2e/agents/opencode.py): run "opencode"
    "opencode.1.bash_ok": _usage(2811, 611, 0, 51, 7),
    "opencode.2.bash_fail": _usage(2912, 612, 0, 52, 8),
    "opencode.3.read_missing": _usage(3013, 613, 0, 53, 9),
    "opencode.4.read": _usage(3114, 614, 0, 54, 0),
    "opencode.5.final": _usage(3215, 615, 0, 55, 0),
}

# Steps answered with an HTTP error. `once`: only the first attempt fails (the
# agent's retry then succeeds); otherwise every attempt fails.
ERRORS = {
    "resume.1.bash": dict(status=500, message="Internal server error (scripted, first attempt only)", once=True),
    "error.1": dict(status=500, message="Internal server error (scripted, every attempt)", once=False),
}


def _tool(call_id, name, args):
    return {"id": call_id, "name": name, "arguments": args}


def script(work: Path) -> dict:
    """The scripted conversation per marker: a list of (step name, text, tool calls)."""
    w = str(work)
    return {
        "main": [
            ("main.1.bash_ok", None, [_tool("call_kz_bash_ok", "bash", {"command": "echo kaizen-e2e-ok", "description": "Print a marker"})]),
            ("main.2.bash_fail", "Now a command that fails.", [
                _tool("call_kz_bash_fail", "bash", {"command": "echo about-to-fail >&2; exit 2", "description": "Fail on purpose"}),
            ]),
            ("main.3.create", None, [_tool("call_kz_create", "create", {"path": f"{w}/hello.txt", "file_text": "hello from the e2e suite\n"})]),
            ("main.4.edit", None, [_tool("call_kz_edit", "edit", {"path": f"{w}/hello.txt", "old_str": "hello", "new_str": "goodbye"})]),
            ("main.5.view", None, [_tool("call_kz_view", "view", {"path": f"{w}/notes.txt"})]),
            ("main.6.view_missing", None, [_tool("call_kz_view_missing", "view", {"path": f"{w}/does-not-exist.txt"})]),
            ("main.7.parallel", "Two things at once.", [
                _tool("call_kz_par_bash", "bash", {"command": "echo parallel-one", "description": "Print one"}),
                _tool("call_kz_par_view", "view", {"path": f"{w}/README.md"}),
            ]),
            ("main.8.subagent", None, [_tool("call_kz_task", "task", {
                "name": "kz-helper",
                "description": "Read the readme",
                "prompt": f"[kz:sub] Read {w}/README.md and report its title.",
                "agent_type": "explore",
                "mode": "sync",
            })]),
            ("main.9.final", "All steps done.", []),
        ],
        "sub": [
            ("sub.1.view", None, [_tool("call_kz_sub_view", "view", {"path": f"{w}/README.md"})]),
            ("sub.2.final", "Subagent finished: the title is e2e.", []),
        ],
        "resume": [
            # the same command as main.1: Copilot sends no call id, so only the order tells the two apart
            ("resume.1.bash", None, [_tool("call_kz_resume_bash", "bash", {"command": "echo kaizen-e2e-ok", "description": "Print a marker"})]),
            ("resume.2.final", "Resumed and done.", []),
        ],
        "denied": [
            ("denied.1.rm", None, [_tool("call_kz_denied_rm", "bash", {"command": "rm -f hello.txt", "description": "Remove a file"})]),
            ("denied.2.final", "The command was denied; stopping.", []),
        ],
        "compact": [("compact.1.final", "Nothing left to do.", [])],
        "error": [("error.1", None, [])],
    }


def cline_script(work: Path) -> dict:
    """Cline CLI 3.x's tools: `run_commands` (a list of commands), `read_files` (a list of files)."""
    w = str(work)
    return {
        "cline": [
            ("cline.1.cmd_ok", None, [_tool("call_kz_cmd_ok", "run_commands", {"commands": ["echo kaizen-e2e-ok"]})]),
            ("cline.2.cmd_fail", "Now a command that fails.", [
                _tool("call_kz_cmd_fail", "run_commands", {"commands": ["echo about-to-fail >&2; exit 2"]}),
            ]),
            ("cline.3.read_missing", None, [
                _tool("call_kz_read_missing", "read_files", {"files": [{"path": f"{w}/does-not-exist.txt"}]}),
            ]),
            ("cline.4.read", None, [_tool("call_kz_read", "read_files", {"files": [{"path": f"{w}/notes.txt"}]})]),
            ("cline.5.final", "All steps done.", []),
        ],
        "cline_resume": [
            ("cline_resume.1.cmd", None, [_tool("call_kz_resume_cmd", "run_commands", {"commands": ["echo resumed-ok"]})]),
            ("cline_resume.2.final", "Resumed and done.", []),
        ],
    }


def opencode_script(work: Path) -> dict:
    """OpenCode's tools: `bash` (command, description), `read` (filePath)."""
    w = str(work)
    return {
        "opencode": [
            ("opencode.1.bash_ok", None, [_tool("call_kz_oc_bash_ok", "bash", {"command": "echo kaizen-e2e-ok", "description": "Print a marker"})]),
            ("opencode.2.bash_fail", "Now a command that fails.", [
                _tool("call_kz_oc_bash_fail", "bash", {"command": "echo about-to-fail >&2; exit 2", "description": "Fail on purpose"}),
            ]),
            ("opencode.3.read_missing", None, [_tool("call_kz_oc_read_missing", "read", {"filePath": f"{w}/does-not-exist.txt"})]),
            ("opencode.4.read", None, [_tool("call_kz_oc_read", "read", {"filePath": f"{w}/notes.txt"})]),
            ("opencode.5.final", "All steps done.", []),
        ],
    }


def _texts(content):
    if isinstance(content, str):
        return [content]
    out = []
    for part in content or []:
        if isinstance(part, dict) and part.get("type") == "text":
            out.append(part.get("text", ""))
    return out


def locate(body: dict):
    """(marker, step index): the latest marked user message and the assistant messages after it."""
    msgs = body.get("messages") or []
    for i in range(len(msgs) - 1, -1, -1):
        m = msgs[i]
        if m.get("role") != "user":
            continue
        found = None
        for t in _texts(m.get("content")):
            for hit in MARKER.finditer(t):
                found = hit.group(1)
        if found:
            answered = sum(1 for later in msgs[i + 1:] if later.get("role") == "assistant")
            return found, answered
    return None, 0


def is_compaction(body: dict) -> bool:
    """Copilot's compaction request: the whole conversation, then a last user message that
    asks "Please create a detailed summary of the conversation so far. The history is being
    compacted ..." (the same for `/compact` and for background compaction)."""
    msgs = body.get("messages") or []
    if not msgs or msgs[-1].get("role") != "user":
        return False
    last = " ".join(_texts(msgs[-1].get("content"))).lower()
    return "summary of the conversation" in last and "compacted" in last


def _wire_usage(u: dict) -> dict:
    return {
        "prompt_tokens": u["prompt_tokens"],
        "completion_tokens": u["completion_tokens"],
        "total_tokens": u["prompt_tokens"] + u["completion_tokens"],
        "prompt_tokens_details": {"cached_tokens": u["cached_tokens"], "cache_write_tokens": u["cache_write_tokens"]},
        "completion_tokens_details": {"reasoning_tokens": u["reasoning_tokens"]},
    }


class OpenAIChatMock:
    """The app for common.MockServer."""

    def __init__(self, work: Path, model_override: str = None, scripted=None, usage=None):
        """`scripted` and `usage`: another agent's conversation (its own tool names), else Copilot's."""
        self.script = scripted if scripted is not None else script(work)
        self.usage = usage if usage is not None else USAGE
        self.model_override = model_override
        self.served = []  # one dict per response (or error) sent
        self.errored = set()  # steps whose one-time error was already sent
        self.unknown = []  # requests the mock did not recognise
        self.lock = threading.Lock()

    def _record(self, **row):
        with self.lock:
            self.served.append(row)

    def responses(self, step: str):
        return [r for r in self.served if r["step"] == step]

    def __call__(self, req):
        path = req.path.split("?")[0]
        body = req.json() or {}
        if req.method == "GET" and path.rstrip("/").endswith("/models"):
            model = self.model_override or MODEL
            return json_response({"object": "list", "data": [{"id": model, "object": "model", "created": 0, "owned_by": "kz-e2e"}]})
        if not path.endswith("/chat/completions"):
            with self.lock:
                self.unknown.append((req.method, req.path))
            return json_response({"error": {"message": "not mocked", "type": "invalid_request_error"}}, 404)

        model = self.model_override or body.get("model") or MODEL
        marker, index = locate(body)
        steps = self.script.get(marker) if marker else None
        if is_compaction(body):
            step, text, calls = "compact.summary", "<summary>The user ran an end-to-end scenario; every step completed.</summary>", []
        elif steps and index < len(steps):
            step, text, calls = steps[index]
        else:
            step, text, calls = "unscripted", "OK.", []
            with self.lock:
                self.unknown.append(("unscripted", f"marker={marker} index={index} tools={len(body.get('tools') or [])}"))

        err = ERRORS.get(step)
        if err and (not err["once"] or step not in self.errored):
            with self.lock:
                self.errored.add(step)
            self._record(step=step, status=err["status"], model=model, response_id=None, usage=None,
                         stream=bool(body.get("stream")), retry=req.headers.get("x-stainless-retry-count"))
            return json_response({"error": {"message": err["message"], "type": "server_error", "code": None}}, err["status"])

        usage = self.usage.get(step, USAGE["unscripted"])
        n = sum(1 for r in self.served if r["step"] == step and r["status"] == 200)
        response_id = f"chatcmpl-kz-{step.replace('.', '-')}" + (f"-{n}" if n else "")
        finish = "tool_calls" if calls else "stop"
        self._record(step=step, status=200, model=model, response_id=response_id, usage=dict(usage),
                     stream=bool(body.get("stream")), finish_reason=finish, tool_call_ids=[c["id"] for c in calls])

        created = int(time.time())

        def chunk(delta, finish_reason=None, **extra):
            return {"id": response_id, "object": "chat.completion.chunk", "created": created, "model": model,
                    "system_fingerprint": "fp_kz_e2e",
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}], **extra}

        if not body.get("stream"):
            message = {"role": "assistant", "content": text}
            if calls:
                message["tool_calls"] = [{"id": c["id"], "type": "function",
                                          "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}} for c in calls]
            return json_response({"id": response_id, "object": "chat.completion", "created": created, "model": model,
                                  "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                                  "usage": _wire_usage(usage)})

        events = [(None, chunk({"role": "assistant", "content": ""}))]
        if text:
            events.append((None, chunk({"content": text})))
        for i, c in enumerate(calls):
            args = json.dumps(c["arguments"])
            half = len(args) // 2
            events.append((None, chunk({"tool_calls": [{"index": i, "id": c["id"], "type": "function",
                                                         "function": {"name": c["name"], "arguments": args[:half]}}]})))
            events.append((None, chunk({"tool_calls": [{"index": i, "function": {"arguments": args[half:]}}]})))
        events.append((None, chunk({}, finish)))
        final = chunk({})
        final["choices"] = []
        final["usage"] = _wire_usage(usage)
        events.append((None, final))
        events.append((None, "[DONE]"))
        return sse(events)
