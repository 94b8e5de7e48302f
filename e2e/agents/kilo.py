"""Kilo Code CLI (`kilo`, an OpenCode fork), headless (`kilo run`) against the scripted OpenAI
Chat Completions mock on 127.0.0.1: OpenCode's case (e2e/agents/opencode.py) with Kilo's names.

How it runs (Kilo 7.7.9, the native binary of `@kilocode/cli-linux-x64`, run directly: the
wrapper package `@kilocode/cli` names platform packages of a version that is not published):

    ~/.config/kilo/kilo.json: the provider "kz" as for OpenCode, and `enabled_providers: ["kz"]`
        (else it fetches the model list of its own "kilo" provider)
    ~/.npmrc: `registry=<mock>/npm/` (it installs `@kilocode/plugin` at its version into its
        config directory at start; 7.7.9 is not even published)
    KILO_TELEMETRY_LEVEL=off (else PostHog), KILO_DISABLE_MODELS_FETCH=1,
    KILO_DISABLE_AUTOUPDATE=1, KILO_DISABLE_LSP_DOWNLOAD=1
    kilo run "<prompt>"

`kaizen-hook install --agent kilo` copies the OpenCode plugin into `~/.config/kilo/plugins/`
(Kilo ignores OpenCode's folders); it sends `--agent kilo` and `host: "kilo"`, and writes its
steps file under `~/.local/share/kilo/kaizen-hook/`. Unlike OpenCode, Kilo asks for no title.
"""

from agents import opencode

KILO = opencode.Flavor(
    agent="kilo",
    title="Kilo Code",
    binary="node_modules/@kilocode/cli-linux-x64/bin/kilo",
    env=dict(KILO_TELEMETRY_LEVEL="off", KILO_DISABLE_MODELS_FETCH="1", KILO_DISABLE_AUTOUPDATE="1",
             KILO_DISABLE_LSP_DOWNLOAD="1"),
    plugin_package="@kilocode/plugin",
    pure="KILO_PURE",
    settings={"enabled_providers": ["kz"]},
)


def run(checks):
    opencode.run(checks, KILO)
