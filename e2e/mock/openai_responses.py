"""A scripted OpenAI Responses API (SSE streaming) for the real Codex CLI.

Codex talks to a `model_providers` entry with `wire_api = "responses"`: every
model call is `POST <base_url>/responses` with `stream: true`, answered with
server-sent events (`response.created`, `response.output_item.done` per output
item, `response.completed` with the usage).

Each `codex exec` run of the scenario sends a prompt that carries a marker,
`[kz:<run>]`; the subagent's task carries its own (`[kz:sub]`). The response is
chosen from the request's content, never from a global counter: the marker of
the latest user message that has one names the script, and the scripted tool
calls already answered after it (their `call_id`s come back as
`function_call_output` / `custom_tool_call_output` items) give the step.
Codex's side requests get sensible answers: the auto-compaction summary
(recognised by its "CONTEXT CHECKPOINT COMPACTION" prompt; after it the
compacted history has lost the tool outputs, so the script resumes at a named
step), the automatic approval reviewer of `--approve-for-me` (recognised by its
`text.format` JSON schema with `outcome`: it always denies), `GET /models`, and
anything unscripted (a short message of its own). `ERRORS` answers some steps
with HTTP 500 (once, then retried by Codex; or on every attempt). A step served
more than `LOOP_GUARD` times gets a 400, so a script bug cannot loop forever.

Every model response carries distinctive usage numbers, listed in `USAGE` (by
step name) so the checks, and the tokens-and-cost issue, can compare the
rollout transcript and what kaizen-hook records with what was served. The
figures are given as the Responses API reports them: `input_tokens` INCLUDES
the cached and cache-written tokens, `output_tokens` INCLUDES reasoning.
`served` keeps each answer as it went out (step, HTTP status, response id,
model, usage), in order; `expected_usage(step)` splits a step's figures the way
SPEC §11 defines the Event fields.
"""

import json
import re
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import Response, json_response, sse  # noqa: E402

MODEL = "gpt-5.5"  # a slug Codex 0.171 knows: freeform apply_patch, exec_command, 272k context

MARKER = re.compile(r"\[kz:([a-z0-9_-]+)\]")
COMPACT_PROMPT = "CONTEXT CHECKPOINT COMPACTION"
# The summary the mock writes comes back in the compacted history; after it, the
# tool outputs before the compaction are gone, so the script resumes at a named step.
COMPACTED = "kz-compacted"
RESUME_AFTER_COMPACTION = {"resume": "resume.4.after_compact"}
# A step served this often means the agent loops on the script: answer 400 so it stops.
LOOP_GUARD = 6

# Codex compacts automatically once a response's total tokens reach this limit
# (config `model_auto_compact_token_limit`); only `resume.3.big` crosses it.
AUTO_COMPACT_LIMIT = 20000


def _u(fresh, cached, cache_write, output, reasoning):
    """Usage as the Responses API reports it, from its distinct parts."""
    inp = fresh + cached + cache_write
    return {
        "input_tokens": inp,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": cache_write},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": inp + output,
    }


# Distinctive usage per model response (step name -> Responses API `usage`).
# Parts: fresh input 1101/1202/..., cached 2001/2102/..., cache write 301/302/...,
# output 31/32/... of which reasoning 11/12/...
USAGE = {
    # run "main": the first session
    "main.1.shell_ok": _u(1101, 2001, 301, 31, 11),
    "main.2.shell_fail": _u(1202, 2102, 302, 32, 12),
    "main.3.write": _u(1303, 2203, 303, 33, 13),
    "main.4.edit": _u(1404, 2304, 304, 34, 14),
    "main.5.parallel_reads": _u(1505, 2405, 305, 35, 15),
    "main.6.spawn": _u(1606, 2506, 306, 36, 16),
    "main.7.wait": _u(1707, 2607, 307, 37, 17),
    "main.8.final": _u(1808, 2708, 308, 38, 18),
    # the subagent's own conversation
    "sub.1.shell": _u(3101, 4001, 401, 41, 21),
    "sub.2.final": _u(3202, 4102, 402, 42, 22),
    # run "resume": `codex exec resume <id>` of the same session
    "resume.1.denied": _u(5101, 6001, 501, 51, 31),
    "resume.2.escalate": _u(5202, 6102, 502, 52, 32),
    "resume.3.big": _u(14303, 6203, 503, 53, 33),  # total >= AUTO_COMPACT_LIMIT: triggers compaction
    "resume.4.after_compact": _u(5404, 6304, 504, 54, 34),
    "resume.5.final": _u(5505, 6405, 505, 55, 35),
    # the automatic approval reviewer (`--approve-for-me`), asked about the escalation
    "guardian.review": _u(8101, 0, 0, 81, 61),
    # the auto-compaction summary request
    "compact.summary": _u(7101, 8001, 601, 71, 41),
    # run "int": interrupted (SIGINT) while its command runs
    "int.1.sleep": _u(9101, 9201, 901, 91, 71),
    "int.2.final": _u(9202, 9302, 902, 92, 72),
    # run "error": the model fails on every attempt (HTTP 500), no usage
    # anything the script does not know: still distinct
    "unscripted": _u(111, 0, 0, 11, 0),
}

# Steps answered with an HTTP error instead of a response: (status, body, attempts; None = always).
ERRORS = {
    "main.4.edit": (500, {"error": {"type": "server_error", "message": "Internal server error (scripted, first attempt only)"}}, 1),
    "error.1": (500, {"error": {"type": "server_error", "message": "The server is overloaded (scripted, every attempt)"}}, None),
}


def _shell(call_id, cmd):
    return {"kind": "function", "call_id": call_id, "name": "exec_command",
            "arguments": {"cmd": cmd, "yield_time_ms": 2000}}


def _patch(call_id, patch):
    return {"kind": "custom", "call_id": call_id, "name": "apply_patch", "input": patch}


def _fn(call_id, name, args, namespace=None):
    item = {"kind": "function", "call_id": call_id, "name": name, "arguments": args}
    if namespace:
        item["namespace"] = namespace
    return item


def _say(text):
    return {"kind": "message", "text": text}


# The automatic reviewer's answer (its output schema: outcome allow|deny, risk_level, ...).
GUARDIAN_VERDICT = {"risk_level": "high", "user_authorization": "unknown", "outcome": "deny",
                    "rationale": "The e2e scenario's reviewer denies every escalation."}

SUBAGENT_TASK = "[kz:sub] Count the lines of notes.txt with a shell command and report the number."

# Per marker: list of (step name, output items). A step is done once every
# call in it has its output in the conversation after the marker.
SCRIPT = {
    "main": [
        ("main.1.shell_ok", [_shell("call_kz_shell_ok", "echo kaizen-e2e-ok")]),
        ("main.2.shell_fail", [_shell("call_kz_shell_fail", "echo kaizen-e2e-fail >&2; exit 2")]),
        ("main.3.write", [_patch("call_kz_write", "*** Begin Patch\n*** Add File: created.txt\n+created by the e2e scenario\n+second line\n*** End Patch\n")]),
        ("main.4.edit", [_patch("call_kz_edit", "*** Begin Patch\n*** Update File: notes.txt\n@@\n alpha\n-beta\n+beta (edited)\n gamma\n*** End Patch\n")]),
        ("main.5.parallel_reads", [
            _shell("call_kz_read", "cat notes.txt"),
            _shell("call_kz_read_missing", "cat missing-file.txt"),
        ]),
        ("main.6.spawn", [_fn("call_kz_spawn", "spawn_agent", {"message": SUBAGENT_TASK}, namespace="multi_agent_v1")]),
        ("main.7.wait", [_fn("call_kz_wait", "wait_agent", {"targets": ["{agent_id}"], "timeout_ms": 30000}, namespace="multi_agent_v1")]),
        ("main.8.final", [_say("Part one is done: shell ok and failing, write, edit, reads, a subagent.")]),
    ],
    "sub": [
        ("sub.1.shell", [_shell("call_kz_sub_shell", "wc -l notes.txt")]),
        ("sub.2.final", [_say("notes.txt has 3 lines.")]),
    ],
    "resume": [
        ("resume.1.denied", [_shell("call_kz_denied", "rm -f README.md")]),
        ("resume.2.escalate", [_fn("call_kz_perm", "exec_command", {
            "cmd": "touch escalated.txt", "sandbox_permissions": "require_escalated",
            "justification": "The e2e scenario wants to write outside the sandbox."})]),
        ("resume.3.big", [_shell("call_kz_big", "echo after-denial")]),
        ("resume.4.after_compact", [_shell("call_kz_after_compact", "echo after-compaction")]),
        ("resume.5.final", [_say("Part two is done: denied commands, a compaction, more shell.")]),
    ],
    "int": [
        ("int.1.sleep", [_shell("call_kz_sleep", "sleep 20")]),
        ("int.2.final", [_say("Part four is done.")]),
    ],
    "error": [
        ("error.1", [_say("never served")]),
    ],
}


def _texts(item):
    content = item.get("content")
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [c.get("text", "") for c in content if isinstance(c, dict)]
    return []


def _user_markers(items):
    """(index, marker) of every user message carrying a marker."""
    found = []
    for i, item in enumerate(items):
        if item.get("type") == "message" and item.get("role") == "user":
            for text in _texts(item):
                m = MARKER.search(text)
                if m:
                    found.append((i, m.group(1)))
                    break
    return found


def _outputs_after(items, start):
    out = {}
    for item in items[start:]:
        if item.get("type") in ("function_call_output", "custom_tool_call_output") and item.get("call_id"):
            out[item["call_id"]] = item.get("output")
    return out


def _spawned_agent_id(outputs):
    """The subagent id from spawn_agent's output (JSON with `agent_id` or similar)."""
    raw = outputs.get("call_kz_spawn")
    if isinstance(raw, list):
        raw = " ".join(c.get("text", "") for c in raw if isinstance(c, dict))
    if not isinstance(raw, str):
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        m = re.search(r"[0-9a-f]{8}-[0-9a-f-]{27}", raw)
        return m.group(0) if m else None
    if isinstance(value, dict):
        for key in ("agent_id", "id", "target", "thread_id"):
            if isinstance(value.get(key), str):
                return value[key]
    return None


class OpenAIResponsesMock:
    """`app(Request) -> Response` for common.MockServer."""

    def __init__(self):
        self.lock = threading.Lock()
        self.served = []  # dicts: step, response_id, model, usage, status
        self.errors_sent = {}
        self.counts = {}
        self.seq = 0

    # The state of a request: which scripted step answers it.
    def choose(self, body):
        items = body.get("input") or []
        if isinstance(items, str):
            items = [{"type": "message", "role": "user", "content": items}]
        all_text = " ".join(t for it in items if isinstance(it, dict) for t in _texts(it))
        instructions = body.get("instructions") or ""
        if COMPACT_PROMPT in all_text[-20000:] or COMPACT_PROMPT in instructions:
            last_user = next((it for it in reversed(items) if it.get("role") == "user"), None)
            if last_user is not None and any(COMPACT_PROMPT in t for t in _texts(last_user)):
                return "compact.summary", [_say(f"Summary ({COMPACTED}): the e2e scenario ran shell commands, a denied rm, and is mid part two.")], {}
        fmt = (body.get("text") or {}).get("format") or {}
        if fmt.get("type") == "json_schema" and "outcome" in json.dumps(fmt.get("schema") or {}):
            return "guardian.review", [_say(json.dumps(GUARDIAN_VERDICT))], {}
        markers = _user_markers(items)
        if not markers:
            return "unscripted", [_say("(unscripted request)")], {}
        start, marker = markers[-1]
        steps = SCRIPT.get(marker)
        if not steps:
            return "unscripted", [_say("(unknown marker)")], {}
        outputs = _outputs_after(items, start)
        resume_at = RESUME_AFTER_COMPACTION.get(marker)
        compacted = resume_at and any(COMPACTED in t for it in items[start:] for t in _texts(it))
        for name, step_items in steps:
            if compacted and name != resume_at:
                continue
            compacted = False
            calls = [i["call_id"] for i in step_items if "call_id" in i]
            if not calls or not all(c in outputs for c in calls):
                return name, step_items, outputs
        return "unscripted", [_say("(script finished)")], outputs

    def __call__(self, req) -> Response:
        path = req.path.split("?")[0]
        if req.method == "GET" and path.endswith("/models"):
            return json_response({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "kaizen-e2e"}]})
        if not path.endswith("/responses"):
            return json_response({"error": {"message": f"mock: no route {req.method} {path}"}}, 404)
        body = req.json() or {}
        name, items, outputs = self.choose(body)
        with self.lock:
            self.seq += 1
            seq = self.seq
            self.counts[name] = self.counts.get(name, 0) + 1
            if name != "unscripted" and self.counts[name] > LOOP_GUARD:
                self.served.append({"step": name, "status": 400, "response_id": None, "model": body.get("model"), "usage": None})
                return json_response({"error": {"type": "invalid_request_error", "message": f"mock: step {name} served {LOOP_GUARD} times, the agent loops"}}, 400)
            err = ERRORS.get(name)
            if err is not None:
                status, payload, attempts = err
                sent = self.errors_sent.get(name, 0)
                if attempts is None or sent < attempts:
                    self.errors_sent[name] = sent + 1
                    self.served.append({"step": name, "status": status, "response_id": None, "model": body.get("model"), "usage": None})
                    return json_response(payload, status)
            rid = f"resp_kz_{seq:03d}_{name.replace('.', '_')}"
            usage = USAGE.get(name, USAGE["unscripted"])
            self.served.append({"step": name, "status": 200, "response_id": rid, "model": body.get("model"), "usage": usage})
        return sse(self.events(rid, seq, body.get("model") or MODEL, items, usage, outputs))

    def events(self, rid, seq, model, items, usage, outputs):
        sent = [("response.created", {"type": "response.created", "response": {"id": rid, "object": "response", "model": model, "status": "in_progress"}})]
        out = []
        agent_id = _spawned_agent_id(outputs) or ""
        for n, it in enumerate(items):
            kind = it["kind"]
            if kind == "message":
                item = {"type": "message", "role": "assistant", "id": f"msg_kz_{seq:03d}_{n}", "status": "completed",
                        "content": [{"type": "output_text", "text": it["text"], "annotations": []}]}
            elif kind == "function":
                args = json.dumps(it["arguments"]).replace("{agent_id}", agent_id)
                item = {"type": "function_call", "id": f"fc_kz_{seq:03d}_{n}", "status": "completed",
                        "call_id": it["call_id"], "name": it["name"], "arguments": args}
                if it.get("namespace"):
                    item["namespace"] = it["namespace"]
            elif kind == "custom":
                item = {"type": "custom_tool_call", "id": f"ctc_kz_{seq:03d}_{n}", "status": "completed",
                        "call_id": it["call_id"], "name": it["name"], "input": it["input"]}
            else:
                raise ValueError(kind)
            out.append(item)
            sent.append(("response.output_item.added", {"type": "response.output_item.added", "output_index": n, "item": item}))
            sent.append(("response.output_item.done", {"type": "response.output_item.done", "output_index": n, "item": item}))
        sent.append(("response.completed", {"type": "response.completed", "response": {
            "id": rid, "object": "response", "model": model, "status": "completed", "output": out, "usage": usage}}))
        return sent


def expected_usage(step: str) -> dict:
    """The usage of a step split as SPEC §11 defines the fields (tokens_in excludes cache reads/writes)."""
    u = USAGE[step]
    cached = u["input_tokens_details"]["cached_tokens"]
    write = u["input_tokens_details"]["cache_write_tokens"]
    return {
        "tokens_in": u["input_tokens"] - cached - write,
        "cache_read_tokens": cached,
        "cache_creation_tokens": write,
        "tokens_out": u["output_tokens"],
        "reasoning_tokens": u["output_tokens_details"]["reasoning_tokens"],
    }
