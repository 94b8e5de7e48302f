// kaizen-hook for OpenCode and its fork Kilo Code: runs kaizen-hook with each event, as Claude
// Code's hooks would. Written by `kaizen-hook install --agent opencode` (or `--agent kilo`);
// `kaizen-hook uninstall` removes it.
// It never blocks the agent: it throws nothing (a throw in tool.execute.before would stop the
// tool), prints nothing, and waits for kaizen-hook at most WAIT_MS (it takes a few ms).
import { spawn } from "node:child_process";
import { appendFileSync, mkdirSync, readdirSync, statSync, unlinkSync } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const KAIZEN_HOOK = "/home/YOU/.local/bin/kaizen-hook";
const WAIT_MS = 1500;
// Bus events worth a record; the others (message parts, plugin.added, ...) fire too often.
const EVENTS = new Set(["session.created", "session.idle", "session.error", "session.compacted", "session.deleted", "permission.asked"]);
// Which agent loaded it: the config directory it is in is named after it (`~/.config/kilo/`,
// a project's `.kilo/` or `.kilocode/` for Kilo Code; `~/.config/opencode/`, `.opencode/`).
const AGENT = (() => {
  try {
    return /^\.?kilo/.test(basename(dirname(dirname(fileURLToPath(import.meta.url))))) ? "kilo" : "opencode";
  } catch {
    return "opencode";
  }
})();
// The agent keeps its tokens per model response in its database only: each step's figures
// (the `step-finish` part) go to a per-session JSONL file in its data directory, which
// kaizen-hook reads at the turn's end as it reads other agents' transcripts.
const STEPS = join(process.env.XDG_DATA_HOME || join(homedir(), ".local", "share"), AGENT, "kaizen-hook");
// kaizen-hook reads a steps file at each turn's end: one untouched for 30 days was read long
// ago. Removed when the agent starts, so the directory does not grow forever (a session
// resumed later starts a new file, which kaizen-hook reads from its start).
const KEEP_MS = 30 * 24 * 3600 * 1000;

function removeOldSteps() {
  try {
    for (const name of readdirSync(STEPS)) {
      const file = join(STEPS, name);
      if (name.endsWith(".jsonl") && Date.now() - statSync(file).mtimeMs > KEEP_MS) unlinkSync(file);
    }
  } catch {}
}

export const KaizenHook = async ({ directory }) => {
  removeOldSteps();
  const models = new Map(); // assistant message id -> its model and the user message it answers
  const stepsFile = (session) => (/^[\w-]{1,100}$/.test(session || "") ? join(STEPS, `${session}.jsonl`) : undefined);
  const send = (name, body) =>
    new Promise((done) => {
      try {
        const transcript_path = stepsFile(body.session_id);
        const payload = JSON.stringify({ hook_event_name: name, cwd: directory, timestamp: Date.now(), host: AGENT, transcript_path, ...body });
        const child = spawn(KAIZEN_HOOK, ["event", "--agent", AGENT, "--event", name], { stdio: ["pipe", "ignore", "ignore"] });
        const timer = setTimeout(done, WAIT_MS);
        child.on("error", () => (clearTimeout(timer), done()));
        child.on("close", () => (clearTimeout(timer), done()));
        child.stdin.on("error", () => {});
        child.stdin.end(payload);
      } catch {
        done();
      }
    });
  const step = (part, time) => {
    const file = stepsFile(part.sessionID);
    if (!file) return;
    const model = models.get(part.messageID) || {};
    const line = { type: "step-finish", id: part.id, sessionID: part.sessionID, messageID: part.messageID, modelID: model.modelID, providerID: model.providerID, parentID: model.parentID, reason: part.reason, tokens: part.tokens, cost: part.cost, time };
    try {
      mkdirSync(STEPS, { recursive: true, mode: 0o700 });
      appendFileSync(file, JSON.stringify(line) + "\n", { mode: 0o600 });
    } catch {}
  };
  return {
    event: async ({ event }) => {
      const props = (event && event.properties) || {};
      const part = props.part || {};
      const info = props.info || {};
      if (event && event.type === "message.updated" && info.role === "assistant") {
        models.set(info.id, { modelID: info.modelID, providerID: info.providerID, parentID: info.parentID });
        return;
      }
      // One per model response; kaizen-hook counts a part written again (updated) once.
      if (event && event.type === "message.part.updated" && part.type === "step-finish") {
        step(part, props.time);
        return;
      }
      // A tool that throws gets no tool.execute.after: its part says it failed.
      if (event && event.type === "message.part.updated" && part.type === "tool" && part.state && part.state.status === "error") {
        await send("tool.error", { session_id: part.sessionID, tool_name: part.tool, tool_use_id: part.callID, tool_input: part.state.input, error: part.state.error });
        return;
      }
      if (!EVENTS.has(event && event.type)) return;
      await send(event.type, { session_id: props.sessionID || info.id, agent_version: info.version, properties: props });
    },
    "chat.message": async (input, output) => {
      const parts = (output && output.parts) || [];
      const prompt = parts.filter((p) => p && p.type === "text").map((p) => p.text).join("\n");
      const model = (output && output.message && output.message.model) || (input && input.model);
      await send("chat.message", { session_id: input && input.sessionID, prompt, model: model && model.modelID, provider: model && model.providerID, agent_name: input && input.agent });
    },
    "tool.execute.before": async (input, output) => {
      await send("tool.execute.before", { session_id: input.sessionID, tool_name: input.tool, tool_use_id: input.callID, tool_input: output && output.args });
    },
    "tool.execute.after": async (input, output) => {
      await send("tool.execute.after", { session_id: input.sessionID, tool_name: input.tool, tool_use_id: input.callID, tool_input: input.args, tool_response: output });
    },
  };
};
