#!/usr/bin/env python3
"""Sum the span timings that `frameshift -vv` prints, per span name.

  frameshift -vv embed paras.txt --out v.npy 2> trace.log
  python3 eval/span-summary.py trace.log

At -vv every span reports `time.busy` when it closes (src/settings.rs). This adds them up by
span name (tokenize, forward, embeddings, layer, attention, ffn, pool) and prints each
total with its share of the `forward` total. Nested spans are counted inside their parents
too (attention and ffn are parts of layer), so shares do not add up to 100%. Standard
library only.
"""
import re
import sys
from collections import defaultdict

ANSI = re.compile(r"\x1b\[[0-9;]*m")
CLOSE = re.compile(r"(\w+)(?:\{[^{}]*\})?: [\w:]+: close time\.busy=([0-9.]+)(ns|µs|us|ms|s) ")
UNIT = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def main() -> int:
    totals: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    with open(sys.argv[1], encoding="utf-8", errors="replace") as f:
        for line in f:
            line = ANSI.sub("", line)
            m = CLOSE.search(line)
            if not m:
                continue
            name, value, unit = m.groups()
            totals[name] += float(value) * UNIT[unit]
            counts[name] += 1
    forward = totals.get("forward", 0.0) or 1.0
    for name, secs in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"{name:12s} {secs:8.3f} s {100 * secs / forward:6.1f}% of forward  ({counts[name]} spans)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
