#!/usr/bin/env python3
"""covsummary.py SUMMARY.json [--floor PATH=PERCENT ...]: line coverage per folder.

Reads gcovr's --json-summary (one entry per source file), prints lines covered / lines and the
percentage of each folder (snapshot/, supervisor/, supervisor/daemon/, ...) and of the whole,
then checks each floor: PATH is a folder (every file under it) or a file; the run fails (exit 1)
when one is below its floor or matches no file. `make coverage` prints; `make check` floors.
"""
import json
import os
import sys


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        files = json.load(f)["files"]
    floors = []
    for a in argv[2:]:
        if a == "--floor":
            continue
        path, _, pct = a.partition("=")
        floors.append((path.rstrip("/"), float(pct)))

    def total(pred):
        n = c = 0
        for e in files:
            if pred(e["filename"]):
                n += e["line_total"]
                c += e["line_covered"]
        return c, n

    def under(folder):
        return lambda name: name == folder or name.startswith(folder + "/")

    folders = sorted({os.path.dirname(e["filename"]) for e in files})
    print("line coverage (gcov, build/cov/):")
    rows = []
    for top in sorted({d.split("/")[0] for d in folders}):
        rows.append(top)
        rows.extend(d for d in folders if d.startswith(top + "/"))
    for d in rows:
        c, n = total(under(d))
        print("  %-28s %6d / %6d lines  %5.1f%%" % (d + "/", c, n, 100.0 * c / n if n else 0))
    c, n = total(lambda name: True)
    print("  %-28s %6d / %6d lines  %5.1f%%" % ("all", c, n, 100.0 * c / n if n else 0))
    bad = 0
    for path, pct in floors:
        c, n = total(under(path))
        if n == 0:
            print("coverage: %s: no such measured file or folder (floor %.1f%%)" % (path, pct))
            bad += 1
            continue
        got = 100.0 * c / n
        verdict = "ok" if got >= pct else "BELOW THE FLOOR"
        print("coverage floor: %-28s %5.1f%% (floor %.1f%%): %s" % (path, got, pct, verdict))
        if got < pct:
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
