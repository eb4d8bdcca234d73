#!/usr/bin/env python3
"""Compares `omni eval` JSON lines with a golden llm/*.jsonl file (../shared/golden/README.md).

usage: check_eval.py OURS.jsonl GOLDEN.jsonl NAME
Prints one line per problem and exits 1 if there is any. The bounds are those of
tests/models/test_llm_golden.c: the README's tolerances on every file, except the
random-weight synth-* files on a CPU below AVX-512 VNNI (or with OMNI_CPU capping it
lower). There llama.cpp's own kernels would sum in other orders than the golden
machine's, and on those files (logits ~30, near one-hot attention) last-bit differences
flip 8-16 bit activation roundings, so their logits get a looser, hard bound.
Greedy tokens must equal the golden's, step by step, up to the first step where our
own top-1 lead (`greedy_margin`) is below the README's margin: from there llama.cpp's
rounding may legitimately pick the other token."""
import json, os, sys

ours_path, gold_path, name = sys.argv[1:4]


def cpu_has_avx512():
    """The level src/core/cpu.c picks: AVX-512 F/BW/VL/DQ/VNNI (the kernel lists only what
    the OS enables), unless OMNI_CPU caps it lower."""
    cap = os.environ.get("OMNI_CPU", "")
    if cap in ("scalar", "avx2"):
        return False
    try:
        flags = next(l for l in open("/proc/cpuinfo") if l.startswith("flags")).split()
    except (OSError, StopIteration):
        return False
    return all(f in flags for f in ("avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni"))


quant = any(q in name for q in ("q4_", "q5_", "q6_", "q8_"))
readme = (0.1 if "q8_0" in name else 0.25) if quant else 1e-2
strict = "synth-" not in name or cpu_has_avx512()
tol = readme if strict else (0.75 if quant else 0.2 if "bf16" in name else 0.03)
min_margin = 0.5 if quant else 0.05
# where logits may be off by tol, a top-1 lead smaller than that is not decided
top1_margin = min_margin if strict else max(min_margin, tol)
ours = [json.loads(l) for l in open(ours_path) if l.strip()]
gold = [json.loads(l) for l in open(gold_path) if l.strip()]
bad = []
if len(ours) != len(gold):
    bad.append(f"{len(ours)} cases, golden has {len(gold)}")
max_err, matched, total = 0.0, 0, 0
for c, (o, g) in enumerate(zip(ours, gold)):
    for key in ("prompt", "tokens", "topk", "greedy", "greedy_margin"):
        if key not in o:
            bad.append(f"case {c}: no '{key}'")
    if o.get("prompt") != g["prompt"]:
        bad.append(f"case {c}: prompt differs")
    if o.get("tokens") != g["tokens"]:
        bad.append(f"case {c}: tokens {o.get('tokens')} != golden {g['tokens']}")
        continue
    if len(o["topk"]) != len(g["topk"]):
        bad.append(f"case {c}: {len(o['topk'])} topk rows, golden {len(g['topk'])}")
        continue
    for i, (orow, grow) in enumerate(zip(o["topk"], g["topk"])):
        mine = {t: l for t, l in orow}
        if [t for t, _ in orow] != sorted(mine, key=lambda t: -mine[t]):
            bad.append(f"case {c} pos {i}: topk not sorted best first")
        if grow[0][1] - grow[1][1] > top1_margin and orow[0][0] != grow[0][0]:
            bad.append(f"case {c} pos {i}: top-1 {orow[0][0]}, golden {grow[0][0]}")
        for t, l in grow:
            if t in mine:  # a reference top-5 token missing from ours is caught by top-1 / logit checks
                d = abs(mine[t] - l)
                max_err = max(max_err, d)
                if d > tol:
                    bad.append(f"case {c} pos {i} token {t}: {mine[t]:.5f} vs golden {l:.5f}")
            elif grow[0][1] - l < tol:
                bad.append(f"case {c} pos {i}: golden top token {t} ({l:.5f}) missing from ours")
    # greedy, as test_llm_golden.c: token for token while our own lead is decided
    og, gg, om = o.get("greedy", []), g["greedy"], o.get("greedy_margin", [])
    if len(om) != len(og):
        bad.append(f"case {c}: {len(om)} greedy margins for {len(og)} greedy tokens")
    n = 0
    for s_ in range(len(gg)):
        if s_ >= len(og):
            bad.append(f"case {c} greedy step {s_}: ours ended, golden has {gg[s_]}")
            break
        if s_ < len(om) and om[s_] < min_margin:
            break
        if og[s_] != gg[s_]:
            bad.append(f"case {c} greedy step {s_}: {og[s_]}, golden {gg[s_]} (our margin {om[s_] if s_ < len(om) else '?'})")
            break
        n += 1
    matched += n
    total += len(gg)
# the greedy match must be real evidence, not stopped at step 0 everywhere
if not quant and matched * 4 < total:
    bad.append(f"greedy matched only {matched} of {total}")
for b in bad[:20]:
    print(f"  {name}: {b}")
print(f"  {name}: max |logit diff| {max_err:.5f} (bound {tol}, README {readme}), greedy matched {matched}/{total}")
sys.exit(1 if bad else 0)
