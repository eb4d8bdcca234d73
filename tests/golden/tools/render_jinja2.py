#!/usr/bin/env python3
"""Renders the tools conversation of renderings.json through a template file with Python's
jinja2, configured as Hugging Face transformers' apply_chat_template configures it
(sandboxed, trim_blocks, lstrip_blocks, loopcontrols, tojson without ASCII escapes,
raise_exception, strftime_now); tool-call arguments are handed to the template as objects,
as transformers documents them. Prints the rendering entry (JSON) to add to renderings.json.

  python3 render_jinja2.py NAME templates/FILE.jinja [--single-call]
"""
import json, sys, datetime
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.ext import loopcontrols

name, path = sys.argv[1], sys.argv[2]
single = "--single-call" in sys.argv
here = __file__.rsplit("/", 1)[0]
golden = json.load(open(f"{here}/renderings.json"))
conv = golden["conversation_single_call" if single else "conversation"]

def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
def raise_exception(msg):
    raise Exception(msg)

env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = lambda f: datetime.datetime(2026, 12, 2).strftime(f)
msgs = json.loads(json.dumps(conv["messages"]))
for m in msgs:
    for tc in m.get("tool_calls", []):
        tc["function"]["arguments"] = json.loads(tc["function"]["arguments"])
bos, eos = "<|endoftext|>", "<|im_end|>"   # the synth Qwen3 vocabulary's, as for the other templates
prompt = env.from_string(open(f"{here}/{path}").read()).render(
    messages=msgs, tools=conv["tools"], add_generation_prompt=True, bos_token=bos, eos_token=eos,
    date_string=golden["date_dmy"])
print(json.dumps({"template": name, "bos_token": bos, "eos_token": eos, "single_call": single, "prompt": prompt,
                  "source": "file:" + path, "reference": "jinja2"}, ensure_ascii=False))
