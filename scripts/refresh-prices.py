#!/usr/bin/env python3
"""Refresh src/cost/prices.json, the price snapshot kaizen-hook compiles in.

The source is LiteLLM's `model_prices_and_context_window.json` (MIT), which
ships in the `litellm` wheel on PyPI as
`litellm/model_prices_and_context_window_backup.json`. This script takes the
newest wheel (`pip download --no-deps litellm`) or the one given with
`--wheel`, keeps only what pricing a coding agent's responses needs, and
writes the snapshot with its revision. Same wheel, same output, byte for byte:
the date is the one already recorded when the source file has not changed
(or `--date`), so a re-run on the same input is a no-op.

What is kept (everything else is dropped):
- models: chat and responses models of the providers the agents use
  (anthropic, openai, gemini, vertex_ai-language-models) listed under the
  names the agents write: `claude-*`, `gpt-*`, `o<digit>*`, `gemini-*`, and
  `gemini/gemini-*` (Google models the Gemini API lists only there);
- fields: input, output, cache read, cache write and 1-hour cache write rates
  per token, their `_above_<N>k_tokens` long-context tiers, max_input_tokens;
- `_aliases`: the dotted spelling Copilot CLI uses for every undated Anthropic
  key (`claude-sonnet-4.5` -> `claude-sonnet-4-5`), listed one by one so the
  binary matches names exactly and never guesses.

Usage: scripts/refresh-prices.py [--wheel PATH] [--date YYYY-MM-DD] [--out PATH]
"""

import argparse
import datetime
import hashlib
import json
import pathlib
import re
import subprocess
import sys
import tempfile
import zipfile

SOURCE = "litellm/model_prices_and_context_window_backup.json"
PROVIDERS = {"anthropic", "openai", "gemini", "vertex_ai-language-models"}
MODES = {"chat", "responses"}
NAMES = re.compile(r"^(claude-|gpt-|o[0-9]|gemini-|gemini/gemini-)")
RATES = (
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "cache_creation_input_token_cost_above_1hr",
)
FIELD = re.compile(r"^(%s)(_above_[0-9]+k?_tokens)?$" % "|".join(RATES))
UNDATED_CLAUDE = re.compile(r"^(claude-[a-z]+)-([0-9]+)-([0-9]+)$")
# Rates are held by the binary as whole pico-USD (1e-12 USD) per token.
PICO = 1e12


def main():
    args = parse_args()
    out = pathlib.Path(args.out)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = pathlib.Path(args.wheel) if args.wheel else download(tmp)
        version, raw, license_text = read_wheel(wheel)
    sha = hashlib.sha256(raw).hexdigest()
    models, warnings = trim(json.loads(raw))
    source = {
        "package": "litellm",
        "version": version,
        "file": SOURCE,
        "sha256": sha,
        "date": args.date or recorded_date(out, sha) or today(),
    }
    text = render(f"litellm {version} sha256:{sha[:12]}", source, license_text, aliases(models), models)
    out.write_text(text, encoding="utf-8")
    for w in warnings:
        print("warning:", w, file=sys.stderr)
    print(f"{out}: {len(models)} models, {len(text.encode())} bytes, litellm {version} sha256:{sha[:12]}")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--wheel", help="a litellm wheel already downloaded (default: the newest from PyPI)")
    p.add_argument("--date", help="the snapshot's date, YYYY-MM-DD (default: kept if the source is unchanged, else today)")
    p.add_argument("--out", default=str(pathlib.Path(__file__).resolve().parent.parent / "src/cost/prices.json"))
    return p.parse_args()


def download(tmp):
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--dest", tmp, "litellm"]
    subprocess.run(cmd, check=True, stdout=sys.stderr)
    wheels = sorted(pathlib.Path(tmp).glob("litellm-*.whl"))
    if len(wheels) != 1:
        sys.exit(f"expected one litellm wheel in {tmp}, found {wheels}")
    return wheels[0]


def read_wheel(path):
    """The wheel's version, the price file's bytes, and LiteLLM's MIT notice."""
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
        version = next(l.split(":", 1)[1].strip() for l in z.read(meta).decode().splitlines() if l.startswith("Version:"))
        lic = next(n for n in names if re.search(r"\.dist-info/(licenses/)?LICENSE$", n))
        license_text = z.read(lic).decode()
        mit = license_text[license_text.index("MIT License"):].strip()
        return version, z.read(SOURCE), mit


def trim(data):
    models, warnings = {}, []
    for name, entry in data.items():
        if not kept(name, entry):
            continue
        fields = {k: v for k, v in entry.items() if FIELD.match(k) and is_rate(v)}
        if "input_cost_per_token" not in fields or "output_cost_per_token" not in fields:
            warnings.append(f"{name}: no input or output rate, left out")
            continue
        if isinstance(entry.get("max_input_tokens"), (int, float)):
            fields["max_input_tokens"] = int(entry["max_input_tokens"])
        reasoning = entry.get("output_cost_per_reasoning_token")
        if reasoning is not None and reasoning != fields["output_cost_per_token"]:
            warnings.append(f"{name}: reasoning rate {reasoning} differs from output; reasoning priced as output")
        for k, v in fields.items():
            if k != "max_input_tokens" and abs(v * PICO - round(v * PICO)) > 1e-6:
                warnings.append(f"{name}: {k} = {v} is not a whole pico-USD; the binary rounds it")
        models[name] = fields
    return models, warnings


def kept(name, entry):
    return (
        isinstance(entry, dict)
        and entry.get("litellm_provider") in PROVIDERS
        and entry.get("mode") in MODES
        and NAMES.match(name) is not None
    )


def is_rate(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0


def aliases(models):
    """Copilot CLI names Claude models with a dot: one alias per undated key."""
    table = {}
    for name in models:
        m = UNDATED_CLAUDE.match(name)
        if m:
            dotted = f"{m.group(1)}-{m.group(2)}.{m.group(3)}"
            if dotted not in models:
                table[dotted] = name
    return dict(sorted(table.items()))


def recorded_date(out, sha):
    try:
        old = json.loads(out.read_text(encoding="utf-8"))["_source"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return old.get("date") if old.get("sha256") == sha else None


def today():
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def render(revision, source, license_text, alias_table, models):
    """One model per line: small, and a refresh reads as a diff of prices."""
    dump = lambda v: json.dumps(v, sort_keys=True, ensure_ascii=False)
    lines = [
        f'  "_revision": {dump(revision)}',
        f'  "_source": {dump(source)}',
        f'  "_license": {dump(license_text)}',
        f'  "_aliases": {dump(alias_table)}',
    ]
    lines += [f"  {dump(name)}: {dump(models[name])}" for name in sorted(models)]
    return "{\n" + ",\n".join(lines) + "\n}\n"


if __name__ == "__main__":
    main()
