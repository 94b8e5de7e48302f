"""A scripted Anthropic Messages API (SSE streaming) for the real Claude Code CLI.

Each `claude -p` run of the scenario sends a prompt that carries a marker,
`[kz:<run>]`; a subagent's prompt carries its own (`[kz:sub]`). The response is
chosen from the request's content, never from a global counter: the marker of
the latest user text that has one names the script, and the number of
assistant messages after it is the step. Claude Code's side requests (token
counts, non-streaming calls, the `/compact` summary) get sensible answers of
their own.

Every model response carries distinctive usage numbers, listed in `USAGE`
(by step name) so the checks, and the tokens-and-cost issue, can compare the
transcript and what kaizen-hook records with what was actually served.
`served` keeps each response as it went out (step, message id, model, usage).
"""

import json
import re
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import Response, json_response, sse  # noqa: E402

MARKER = re.compile(r"\[kz:([a-z0-9_-]+)\]")

# Distinctive usage per model response. `input_tokens` excludes cache reads
# and writes (as the Anthropic API reports it); `thinking_tokens` is the part
# of `output_tokens` spent thinking (the API's `output_tokens_details`).
USAGE = {
    # run "main": the first session
    "main.1.bash_ok": dict(input_tokens=1101, output_tokens=31, cache_read_input_tokens=2001, cache_creation_input_tokens=501, thinking_tokens=11),
    "main.2.bash_fail": dict(input_tokens=1202, output_tokens=32, cache_read_input_tokens=2102, cache_creation_input_tokens=502),
    "main.3.write": dict(input_tokens=1303, output_tokens=33, cache_read_input_tokens=2203, cache_creation_input_tokens=503),
    "main.4.edit": dict(input_tokens=1404, output_tokens=34, cache_read_input_tokens=2304, cache_creation_input_tokens=504),
    "main.5.read": dict(input_tokens=1505, output_tokens=35, cache_read_input_tokens=2405, cache_creation_input_tokens=505),
    "main.6.read_missing": dict(input_tokens=1606, output_tokens=36, cache_read_input_tokens=2506, cache_creation_input_tokens=506),
    "main.7.parallel": dict(input_tokens=1707, output_tokens=37, cache_read_input_tokens=2607, cache_creation_input_tokens=507),
    "main.8.subagent": dict(input_tokens=1808, output_tokens=38, cache_read_input_tokens=2708, cache_creation_input_tokens=508),
    "main.9.final": dict(input_tokens=1909, output_tokens=39, cache_read_input_tokens=2809, cache_creation_input_tokens=509),
    # the subagent's own conversation
    "sub.1.bash": dict(input_tokens=3101, output_tokens=41, cache_read_input_tokens=4001, cache_creation_input_tokens=601),
    "sub.2.final": dict(input_tokens=3202, output_tokens=42, cache_read_input_tokens=4102, cache_creation_input_tokens=602),
    # run "resume": `--resume <id>` of the same session
    "resume.1.bash": dict(input_tokens=5101, output_tokens=51, cache_read_input_tokens=6001, cache_creation_input_tokens=701),
    "resume.2.final": dict(input_tokens=5202, output_tokens=52, cache_read_input_tokens=6102, cache_creation_input_tokens=702),
    # `/compact`: the summary request
    "compact.summary": dict(input_tokens=7101, output_tokens=71, cache_read_input_tokens=8001, cache_creation_input_tokens=801),
    # run "denied": without --dangerously-skip-permissions, a write is refused
    "denied.1.write": dict(input_tokens=9101, output_tokens=91, cache_read_input_tokens=9501, cache_creation_input_tokens=901),
    "denied.2.final": dict(input_tokens=9202, output_tokens=92, cache_read_input_tokens=9602, cache_creation_input_tokens=902),
    # run "error": the model is overloaded (HTTP 529), no usage
    # run "quiet": hooks disabled ("disableAllHooks": true), nothing records
    "quiet.1.final": dict(input_tokens=9901, output_tokens=99, cache_read_input_tokens=9951, cache_creation_input_tokens=991),
    # anything the script does not know (titles, extra turns): still distinct
    "unscripted": dict(input_tokens=111, output_tokens=11, cache_read_input_tokens=0, cache_creation_input_tokens=0),
}

# Steps answered with an HTTP error instead of a response.
ERRORS = {
    "main.3.write": (500, "api_error", "Internal server error (scripted, first attempt only)"),
    "error.1": (529, "overloaded_error", "Overloaded (scripted)"),
}


def _paced(events, pause: float = 0.3):
    """SSE events, with a pause before the final `message_delta` (a lazy iterable for MockServer)."""
    for name, data in events:
        if name == "message_delta":
            time.sleep(pause)
        yield name, data


def _text(t):
    return {"type": "text", "text": t}


def _tool(tid, name, inp):
    return {"type": "tool_use", "id": tid, "name": name, "input": inp}


def script(work: Path) -> dict:
    """The scripted conversation per marker: a list of (step name, content blocks)."""
    w = str(work)
    return {
        "main": [
            ("main.1.bash_ok", [
                {"type": "thinking", "thinking": "Start with a harmless shell command.", "signature": "kz-e2e-signature"},
                _tool("toolu_kz_bash_ok", "Bash", {"command": "echo kaizen-e2e-ok", "description": "Print a marker"}),
            ]),
            ("main.2.bash_fail", [
                _text("Now a command that fails."),
                _tool("toolu_kz_bash_fail", "Bash", {"command": "echo about-to-fail >&2; exit 2", "description": "Fail on purpose"}),
            ]),
            ("main.3.write", [
                _tool("toolu_kz_write", "Write", {"file_path": f"{w}/hello.txt", "content": "hello from the e2e suite\n"}),
            ]),
            ("main.4.edit", [
                _tool("toolu_kz_edit", "Edit", {"file_path": f"{w}/hello.txt", "old_string": "hello", "new_string": "goodbye"}),
            ]),
            ("main.5.read", [
                _tool("toolu_kz_read", "Read", {"file_path": f"{w}/notes.txt"}),
            ]),
            ("main.6.read_missing", [
                _tool("toolu_kz_read_missing", "Read", {"file_path": f"{w}/does-not-exist.txt"}),
            ]),
            ("main.7.parallel", [
                _text("Two things at once."),
                _tool("toolu_kz_par_bash", "Bash", {"command": "echo parallel-one", "description": "Print one"}),
                _tool("toolu_kz_par_read", "Read", {"file_path": f"{w}/README.md"}),
            ]),
            ("main.8.subagent", [
                _tool("toolu_kz_agent", "Agent", {
                    "description": "Run a subagent check",
                    "prompt": "[kz:sub] Run one shell command and report.",
                    "subagent_type": "general-purpose",
                    "run_in_background": False,
                }),
            ]),
            ("main.9.final", [_text("All steps done.")]),
        ],
        "sub": [
            ("sub.1.bash", [_tool("toolu_kz_sub_bash", "Bash", {"command": "echo from-subagent", "description": "Print from the subagent"})]),
            ("sub.2.final", [_text("Subagent finished: it printed from-subagent.")]),
        ],
        "resume": [
            # prints kaizen-hook's own record of this session, to see its status mid-turn
            ("resume.1.bash", [_tool("toolu_kz_resume_bash", "Bash", {
                "command": 'echo resumed; cat "$HOME/.kaizen/sessions/$CLAUDE_CODE_SESSION_ID.session.json"',
                "description": "Print after resume"})]),
            ("resume.2.final", [_text("Resumed and done.")]),
        ],
        "denied": [
            ("denied.1.write", [_tool("toolu_kz_denied_write", "Write", {"file_path": f"{w}/denied.txt", "content": "should never be written\n"})]),
            ("denied.2.final", [_text("The write was denied; stopping.")]),
        ],
        "error": [("error.1", [])],
        "quiet": [("quiet.1.final", [_text("Nothing to do.")])],
    }


def _texts(content):
    if isinstance(content, str):
        return [content]
    out = []
    for block in content or []:
        if isinstance(block, dict) and block.get("type") == "text":
            out.append(block.get("text", ""))
    return out


def is_compaction(body: dict) -> bool:
    """The `/compact` summary request: its last user message asks for a summary of the conversation."""
    msgs = body.get("messages") or []
    if not msgs:
        return False
    last = " ".join(_texts(msgs[-1].get("content")))
    return "summary" in last.lower() and "conversation" in last.lower() and not MARKER.search(last)


def locate(body: dict):
    """(marker, step index) from the conversation: the latest marked user text and the assistant turns after it."""
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


class AnthropicMock:
    """The app for common.MockServer."""

    def __init__(self, work: Path, model_override: str = None):
        self.script = script(work)
        self.model_override = model_override
        self.served = []  # one dict per response (or error) sent
        self.errored = set()  # steps whose scripted one-time error was already sent
        self.unknown = []  # requests the mock did not recognise (path, summary)
        self.lock = threading.Lock()

    def _record(self, **row):
        with self.lock:
            self.served.append(row)

    def __call__(self, req):
        path = req.path.split("?")[0]
        body = req.json() or {}
        if path.endswith("/count_tokens"):
            return json_response({"input_tokens": 4242})
        if req.method == "GET" and path.startswith("/v1/models"):
            return json_response({"data": [], "has_more": False, "first_id": None, "last_id": None})
        if path != "/v1/messages":
            with self.lock:
                self.unknown.append((req.method, req.path))
            return json_response({"type": "error", "error": {"type": "not_found_error", "message": "not mocked"}}, 404)

        model = self.model_override or body.get("model") or "claude-sonnet-4-5"
        if is_compaction(body):
            step, blocks = "compact.summary", [_text("<summary>\nThe user ran an end-to-end scenario; all steps completed.\n</summary>")]
        else:
            marker, index = locate(body)
            steps = self.script.get(marker) if marker else None
            if steps and index < len(steps):
                step, blocks = steps[index]
            else:
                step, blocks = "unscripted", [_text("OK.")]
                with self.lock:
                    self.unknown.append(("unscripted", f"marker={marker} index={index} stream={body.get('stream')}"))

        err = ERRORS.get(step)
        if err and (step.startswith("error.") or step not in self.errored):
            with self.lock:
                self.errored.add(step)
            status, etype, message = err
            self._record(step=step, status=status, model=model, message_id=None, usage=None, stream=bool(body.get("stream")))
            return json_response({"type": "error", "error": {"type": etype, "message": message}}, status)

        usage = dict(USAGE[step])
        thinking = usage.pop("thinking_tokens", 0)
        n = sum(1 for r in self.served if r.get("step") == step and r.get("status") == 200)
        msg_id = f"msg_kz_{step.replace('.', '_')}" + (f"_{n}" if n else "")
        stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
        full_usage = dict(usage)
        full_usage["output_tokens_details"] = {"thinking_tokens": thinking}
        self._record(step=step, status=200, model=model, message_id=msg_id, usage=full_usage, stream=bool(body.get("stream")), stop_reason=stop)

        if not body.get("stream"):
            return json_response({
                "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": blocks,
                "stop_reason": stop, "stop_sequence": None, "usage": full_usage,
            })
        start_usage = dict(usage, output_tokens=1)
        events = [("message_start", {"type": "message_start", "message": {
            "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": start_usage}})]
        for i, b in enumerate(blocks):
            if b["type"] == "text":
                events.append(("content_block_start", {"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}}))
                events.append(("content_block_delta", {"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": b["text"]}}))
            elif b["type"] == "thinking":
                events.append(("content_block_start", {"type": "content_block_start", "index": i, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}))
                events.append(("content_block_delta", {"type": "content_block_delta", "index": i, "delta": {"type": "thinking_delta", "thinking": b["thinking"]}}))
                events.append(("content_block_delta", {"type": "content_block_delta", "index": i, "delta": {"type": "signature_delta", "signature": b["signature"]}}))
            elif b["type"] == "tool_use":
                events.append(("content_block_start", {"type": "content_block_start", "index": i, "content_block": {"type": "tool_use", "id": b["id"], "name": b["name"], "input": {}}}))
                events.append(("content_block_delta", {"type": "content_block_delta", "index": i, "delta": {"type": "input_json_delta", "partial_json": json.dumps(b["input"])}}))
            events.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
        events.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                         "usage": dict(full_usage)}))
        events.append(("message_stop", {"type": "message_stop"}))
        if len(blocks) < 2:
            return sse(events)
        # Like a real stream, the final usage (message_delta) comes a moment after the content
        # blocks: Claude Code writes one transcript line per block as it ends, so the lines
        # written before it carry the message_start usage (output_tokens 1).
        return Response(200, {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}, sse=_paced(events))
