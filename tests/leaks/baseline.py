#!/usr/bin/env python3
"""baseline.py FIGURES.jsonl [COMMIT]

Renders the figures of a leak-test run as the Markdown tables of BASELINE.md. FIGURES.jsonl is
what the test writes with CAPTURE_LEAKS_FIGURES=FILE (one scanner summary per combination):

    CAPTURE_LEAKS_FIGURES=/tmp/figures.jsonl \\
        cargo test -p capture-tests --test leaks -- --ignored --nocapture
    python3 tests/leaks/baseline.py /tmp/figures.jsonl "$(git rev-parse --short HEAD)"
"""

import collections
import json
import sys


def family(cat):
    """The kind of failure a category belongs to, from the action that should have stopped it."""
    action = cat.rsplit("[", 1)[-1].rstrip("]") if "[" in cat else ""
    if action in ("D", "X/D", "X/Z/D", "Z/D", "X/Z"):
        return f"a {action} sequence keeps its items' original content"
    if action == "X/Z/U*":
        return "an X/Z/U* sequence keeps identifying content in its items"
    if action == "C-text":
        return "a sequence cleaned (C) keeps identifying content in its items"
    if action == "C-dates":
        return "a non-date value passes the modified-dates option's C"
    return cat


def main():
    runs = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
    commit = sys.argv[2] if len(sys.argv) > 2 else "?"
    print(f"Engine at `{commit}`; {len(runs)} combinations; {runs[0]['filesIn']} corpus files each.\n")
    print("| combination | exported | held back | lost | leaks (values) | needles |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in runs:
        print(f"| {r['label']} | {r['exported']} | {r['heldBack']} | {r['lost']} | {r['leaks']} | {r['needles']} |")
    total = sum(r["leaks"] for r in runs)
    lost = sum(r["lost"] for r in runs)
    print(f"| **all** | | | **{lost}** | **{total}** | **{sum(r['needles'] for r in runs)}** |\n")

    # Categories: per row and action, over all runs.
    per_cat = collections.defaultdict(list)
    for r in runs:
        for cat, n in r["byCategory"].items():
            per_cat[cat].append((r["label"], n))
    fams = collections.defaultdict(lambda: [0, set(), set()])
    for cat, hits in per_cat.items():
        f = fams[family(cat)]
        f[0] += sum(n for _, n in hits)
        f[1].update(label for label, _ in hits)
        f[2].add(cat.split(" [")[0])
    print("### By kind of failure\n")
    print("| failure | leaks over all runs | runs | rows |")
    print("| --- | ---: | ---: | --- |")
    for name, (n, labels, rows) in sorted(fams.items(), key=lambda kv: -kv[1][0]):
        print(f"| {name} | {n} | {len(labels)} of {len(runs)} | {'; '.join(sorted(rows))} |")
    lost_files = collections.Counter(l.split(":")[0] for r in runs for l in r.get("lostFiles", []))
    for name, n in sorted(lost_files.items()):
        print(f"| input file lost: {name.replace('LOST ', '')} | — | {n} of {len(runs)} | |")
    print("\n### By row and action (leaked values per run where present)\n")
    print("| row [action at the level that should have stopped it] | runs | leaks per run (min–max) | total |")
    print("| --- | ---: | --- | ---: |")
    for cat, hits in sorted(per_cat.items(), key=lambda kv: -sum(n for _, n in kv[1])):
        ns = [n for _, n in hits]
        print(f"| {cat} | {len(hits)} | {min(ns)}–{max(ns)} | {sum(ns)} |")


if __name__ == "__main__":
    main()
