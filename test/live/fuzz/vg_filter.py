#!/usr/bin/python3
"""Counts the valgrind reports that concern ff_engine.

Usage: vg_filter.py SRC_DIR LOG...   (prints the count, then each report)

A report is a block of one process's log between two blank "==PID==" lines
that carries a stack ("at 0x..." / "by 0x..." lines).  It concerns the
extension when ANY frame of it (not only the top one, and the allocation
stack of an "Address ... is ... alloc'd" part too) is in the extension:
"(in .../ff_engine.so)" when the library has no line information, or
"fn (file.c:N)" for a file of SRC_DIR (src/*.c) when it has.  Summaries
(HEAP SUMMARY, ERROR SUMMARY, ...) carry no stack and are never counted.
"""
import os
import re
import sys
from collections import defaultdict

LINE = re.compile(r"^==(\d+)== ?(.*)$")


def reports(paths):
    """Yields (pid, [lines]) blocks with a stack."""
    for path in paths:
        blocks = defaultdict(list)
        with open(path, errors="replace") as f:
            for raw in f:
                m = LINE.match(raw.rstrip("\n"))
                if not m:
                    continue
                pid, text = m.group(1), m.group(2)
                if text.strip() == "":
                    if any(re.match(r"\s+(at|by) 0x", l) for l in blocks[pid]):
                        yield pid, blocks[pid]
                    blocks[pid] = []
                else:
                    blocks[pid].append(text)
        for pid, b in blocks.items():
            if any(re.match(r"\s+(at|by) 0x", l) for l in b):
                yield pid, b


def ours(block, files):
    for l in block:
        if not re.match(r"\s+(at|by) 0x", l):
            continue
        if re.search(r"\(in [^)]*ff_engine\.so\)", l):
            return True
        m = re.search(r"\(([A-Za-z0-9_]+\.c):\d+\)", l)
        if m and m.group(1) in files:
            return True
    return False


def main():
    src = sys.argv[1]
    files = {f for f in os.listdir(src) if f.endswith(".c")}
    found = [b for _, b in reports(sys.argv[2:]) if ours(b, files)]
    print(len(found))
    for b in found[:10]:
        print("\n".join(b[:30]))
        print("--")


if __name__ == "__main__":
    main()
