#!/usr/bin/env python3
"""Summarise a pytest JUnit XML report of kazoo's test suite.

    summarize.py JUNIT.xml [--passing-out FILE] [--baseline FILE [--expected-failures FILE]]

Prints one row per test file (passed / failed / skipped / seconds), the tests that did not
pass, and as its last line exactly:  N passed, M failed, K skipped
(an error in setup or teardown counts as a failure; each test id is counted once).
--passing-out writes the ids of the passing tests, one a line (sorted).
--baseline reads such a file (e.g. the Apache ZooKeeper one) and lists every test that passed
there but not here (with --subset: only among the tests that ran); the exit status is then 1
when there is any such test.
--expected-failures reads test ids (one a line, `#` starts a comment) of baseline tests known not
to pass on the target yet: they are printed as EXPECTED FAILURE and do not count as regressions.
It is strict: a listed test that passes is an error (UNEXPECTED PASS: remove it from the list),
and so is a listed id that is not in the baseline.
"""
import argparse
import collections
import sys
import xml.etree.ElementTree as ET

RANK = {"passed": 0, "skipped": 1, "failed": 2}


def test_file(classname):
    parts = classname.split(".")
    for p in parts:
        if p.startswith("test_"):
            return p + ".py"
    return parts[-1]


def load(path):
    root = ET.parse(path).getroot()
    results = {}  # id -> (status, seconds, message)
    for case in root.iter("testcase"):
        cls = case.get("classname", "")
        tid = "%s::%s" % (cls, case.get("name"))
        status, msg = "passed", ""
        for child in case:
            tag = child.tag
            if tag in ("failure", "error"):
                status, msg = "failed", (child.get("message") or "")[:160]
            elif tag == "skipped" and status == "passed":
                status, msg = "skipped", (child.get("message") or "")[:160]
        secs = float(case.get("time") or 0)
        if tid in results:
            old = results[tid]
            if RANK[old[0]] >= RANK[status]:
                status, msg = old[0], old[2]
            secs += old[1]
        results[tid] = (status, secs, msg)
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("junit")
    ap.add_argument("--passing-out")
    ap.add_argument("--baseline")
    ap.add_argument("--expected-failures")
    ap.add_argument("--subset", action="store_true",
                    help="a selected subset ran: compare only baseline tests that ran")
    a = ap.parse_args()
    results = load(a.junit)
    per = collections.OrderedDict()
    for tid in sorted(results):
        f = test_file(tid.split("::")[0])
        row = per.setdefault(f, {"passed": 0, "failed": 0, "skipped": 0, "secs": 0.0})
        st, secs, _ = results[tid]
        row[st] += 1
        row["secs"] += secs
    print("%-28s %7s %7s %8s %9s" % ("file", "passed", "failed", "skipped", "seconds"))
    tot = {"passed": 0, "failed": 0, "skipped": 0, "secs": 0.0}
    for f, row in per.items():
        print("%-28s %7d %7d %8d %9.1f" % (f, row["passed"], row["failed"], row["skipped"], row["secs"]))
        for k in tot:
            tot[k] += row[k]
    print("%-28s %7d %7d %8d %9.1f" % ("TOTAL", tot["passed"], tot["failed"], tot["skipped"], tot["secs"]))
    bad = [t for t in sorted(results) if results[t][0] == "failed"]
    if bad:
        print("\nfailed:")
        for t in bad:
            print("  %s  -- %s" % (t, results[t][2].replace("\n", " ")))
    skipped = collections.Counter(results[t][2] for t in results if results[t][0] == "skipped")
    if skipped:
        print("\nskipped (reason: count):")
        for reason, n in skipped.most_common():
            print("  %s: %d" % (reason.replace("\n", " "), n))
    rc = 0
    if a.passing_out:
        with open(a.passing_out, "w") as fh:
            for t in sorted(results):
                if results[t][0] == "passed":
                    fh.write(t + "\n")
    if a.baseline:
        with open(a.baseline) as fh:
            want = [l.strip() for l in fh if l.strip() and not l.startswith("#")]
        if a.subset:
            want = [t for t in want if t in results]
        missing = [t for t in want if results.get(t, ("absent",))[0] != "passed"]
        print("\nbaseline %s: %d of %d baseline-passing tests%s pass here"
              % (a.baseline, len(want) - len(missing), len(want),
                 " (of those selected)" if a.subset else ""))
        expected = {}
        if a.expected_failures:
            with open(a.expected_failures) as fh:
                for line in fh:
                    tid = line.split("#", 1)[0].strip()
                    if tid:
                        expected[tid] = line.split("#", 1)[1].strip() if "#" in line else ""
            with open(a.baseline) as fh:
                everything = {l.strip() for l in fh if l.strip() and not l.startswith("#")}
            for t in sorted(expected):
                if t not in everything:
                    print("  NOT IN BASELINE %s (listed in %s)" % (t, a.expected_failures))
                    rc = 1
        for t in missing:
            if t in expected:
                print("  EXPECTED FAILURE %s (%s)%s" % (t, results.get(t, ("not run",))[0],
                                                       ": " + expected[t] if expected[t] else ""))
            else:
                print("  REGRESSION %s (%s)" % (t, results.get(t, ("not run",))[0]))
                rc = 1
        for t in sorted(expected):
            if results.get(t, ("absent",))[0] == "passed":
                print("  UNEXPECTED PASS %s: remove it from %s" % (t, a.expected_failures))
                rc = 1
    print()
    print("%d passed, %d failed, %d skipped" % (tot["passed"], tot["failed"], tot["skipped"]))
    return rc


if __name__ == "__main__":
    sys.exit(main())
