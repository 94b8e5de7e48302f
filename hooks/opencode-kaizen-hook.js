// kaizen-hook for OpenCode: runs kaizen-hook with each event, as Claude Code's hooks would.
// Written by `kaizen-hook install --agent opencode`; `kaizen-hook uninstall` removes it.
// It never blocks OpenCode: it throws nothing (a throw in tool.execute.before would stop the
// tool), prints nothing, and waits for kaizen-hook at most WAIT_MS (it takes a few ms).
import { spawn } from "node:child_process";

const KAIZEN_HOOK = "/home/YOU/.local/bin/kaizen-hook";
const WAIT_MS = 1500;
// Bus events worth a record; the others (message parts, plugin.added, ...) fire too often.
const EVENTS = new Set(["session.created", "session.idle", "session.error", "session.compacted", "session.deleted", "permission.asked"]);

export const KaizenHook = async ({ directory }) => {
  const send = (name, body) =>
    new Promise((done) => {
      try {
        const payload = JSON.stringify({ hook_event_name: name, cwd: directory, timestamp: Date.now(), ...body });
        const child = spawn(KAIZEN_HOOK, ["event", "--agent", "opencode", "--event", name], { stdio: ["pipe", "ignore", "ignore"] });
        const timer = setTimeout(done, WAIT_MS);
        child.on("error", () => (clearTimeout(timer), done()));
        child.on("close", () => (clearTimeout(timer), done()));
        child.stdin.on("error", () => {});
        child.stdin.end(payload);
      } catch {
        done();
      }
    });
  return {
    event: async ({ event }) => {
      const props = (event && event.properties) || {};
      const part = props.part || {};
      // A tool that throws gets no tool.execute.after: its part says it failed.
      if (event && event.type === "message.part.updated" && part.type === "tool" && part.state && part.state.status === "error") {
        await send("tool.error", { session_id: part.sessionID, tool_name: part.tool, tool_use_id: part.callID, tool_input: part.state.input, error: part.state.error });
        return;
      }
      if (!EVENTS.has(event && event.type)) return;
      const info = props.info || {};
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
