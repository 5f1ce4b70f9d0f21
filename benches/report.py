#!/usr/bin/env python3
"""Turns a benchmark run's JSON lines (benches/run.sh, benches/memory.sh, benches/big-tree.sh)
into docs/benchmarks.md and its charts (SVG, drawn by gnuplot).

    benches/report.py RESULTS_DIR [--out DOCS_DIR]

RESULTS_DIR holds results.jsonl (and big-tree.jsonl, if the 10M-znode run was made). The
markdown and the charts (DOCS_DIR/benchmarks/*.svg) are written from those files alone, so
anyone can regenerate them from a run on their own machine. Needs python3 (standard library
only) and gnuplot (scripts/setup.sh installs gnuplot-nox).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

WORKLOADS = [
    ("write", "setData"),
    ("read", "getData"),
    ("create-delete", "create+delete"),
    ("sessions", "session connect+close"),
    ("watch-fanout", "watch fan-out"),
]
MODES = [("ensemble", "3-node ensemble"), ("standalone", "standalone")]
SERVERS = [("zkr", "zkr"), ("apache", "Apache ZooKeeper 3.8")]
TABLE_CLIENTS = 64
FANOUT_WATCHERS = 1000


def load(results_dir):
    records = []
    for name in ("results.jsonl", "big-tree.jsonl"):
        path = os.path.join(results_dir, name)
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        records.append(json.loads(line))
                    except json.JSONDecodeError:
                        print(f"report: skipping a bad line in {path}: {line[:80]}", file=sys.stderr)
    return records


def cpu_us_per_op(r, rate="ops_per_sec"):
    """Server CPU (all server processes) per operation (or per unit of `rate`), in µs."""
    n = r.get(rate) or 0
    cpu = r.get("server_cpu_pct")
    if not n or cpu is None:
        return None
    return cpu / 100.0 / n * 1e6


def cpu_us_per_notification(r):
    return cpu_us_per_op(r, "notifications_per_sec")


def fmt_rate(x):
    if x is None:
        return "–"
    return f"{x / 1000:.1f}k/s" if x >= 1000 else f"{x:.0f}/s"


def fmt(x, unit="", digits=1):
    return "–" if x is None else f"{x:.{digits}f}{unit}"


def ratio(a, b, digits=2):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.{digits}f}x"


class Bench:
    def __init__(self, records):
        self.by_key = {}
        for r in records:
            if r.get("record") == "bench" and not r.get("error"):
                self.by_key[(r["server"], r["mode"], r["workload"], r["matrix_clients"])] = r

    def get(self, server, mode, workload, clients):
        return self.by_key.get((server, mode, workload, clients))

    def clients(self, mode, workload):
        return sorted({k[3] for k in self.by_key if k[1] == mode and k[2] == workload and k[3] != FANOUT_WATCHERS})

    def series(self):
        """(mode, mode name, workload, workload name, client counts, [(count, zkr, apache)])
        for each workload measured at several client counts."""
        for mode, mode_name in MODES:
            for w, name in WORKLOADS:
                cs = self.clients(mode, w)
                if cs:
                    rows = [(c, self.get("zkr", mode, w, c), self.get("apache", mode, w, c)) for c in cs]
                    yield mode, mode_name, w, name, rows


def main_table(bench):
    out = []
    for mode, mode_name in MODES:
        rows = []
        for w, name in WORKLOADS:
            c = FANOUT_WATCHERS if w == "watch-fanout" else TABLE_CLIENTS
            z, a = bench.get("zkr", mode, w, c), bench.get("apache", mode, w, c)
            if not z and not a:
                continue
            if w == "watch-fanout":
                zp = z and z.get("p50_ms")
                ap = a and a.get("p50_ms")
                rows.append(
                    f"| {name}, {c:,} watchers: p50 of a round | {fmt(zp, ' ms', 2)} | {fmt(ap, ' ms', 2)} | "
                    f"{ratio(zp, ap)} | {fmt(z and cpu_us_per_notification(z), ' µs')} | "
                    f"{fmt(a and cpu_us_per_notification(a), ' µs')} | {ratio(z and cpu_us_per_notification(z), a and cpu_us_per_notification(a))} |"
                )
                continue
            zt, at = z and z.get("ops_per_sec"), a and a.get("ops_per_sec")
            zc, ac = z and cpu_us_per_op(z), a and cpu_us_per_op(a)
            rows.append(
                f"| {name}, {c} clients | {fmt_rate(zt)}, p99 {fmt(z and z.get('p99_ms'), ' ms', 1)} | "
                f"{fmt_rate(at)}, p99 {fmt(a and a.get('p99_ms'), ' ms', 1)} | {ratio(zt, at)} (p99 {ratio(z and z.get('p99_ms'), a and a.get('p99_ms'))}) | "
                f"{fmt(zc, ' µs')} | {fmt(ac, ' µs')} | {ratio(zc, ac)} |"
            )
        if rows:
            out.append(f"### {mode_name}\n")
            out.append("| workload | zkr | Apache ZooKeeper | zkr / Apache | server CPU per op, zkr | Apache | zkr / Apache |")
            out.append("|---|---|---|---|---|---|---|")
            out.extend(rows)
            out.append("")
    return out


def matrix_tables(bench):
    out = []
    for mode, mode_name, w, name, rows in bench.series():
        who = "watchers" if w == "watch-fanout" else "clients"
        out.append(f"#### {name}, {mode_name}\n")
        out.append(f"| {who} | zkr ops/s | p50 | p99 | CPU/op | Apache ops/s | p50 | p99 | CPU/op | busy % of machine (zkr / Apache) |")
        out.append("|---|---|---|---|---|---|---|---|---|---|")
        for c, z, a in rows:
            cells = [str(c)]
            for r in (z, a):
                cells += [
                    fmt_rate(r and r.get("ops_per_sec")),
                    fmt(r and r.get("p50_ms"), " ms", 2),
                    fmt(r and r.get("p99_ms"), " ms", 2),
                    fmt(r and cpu_us_per_op(r), " µs"),
                ]
            cells.append(f"{fmt(z and z.get('machine_busy_pct'), '', 0)} / {fmt(a and a.get('machine_busy_pct'), '', 0)}")
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return out


def memory_tables(records):
    mem = sorted((r for r in records if r.get("record") == "memory"), key=lambda r: (r["server"], r["znodes"]))
    out = []
    if mem:
        out.append("| server | znodes (100 B) | RSS after load | peak RSS (load + snapshots) | RSS 20 s later | live heap | largest snapshot | kill -9 to serving | restart CPU | RSS after restart (peak) | machine load |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in mem:
            out.append(
                f"| {r['server']} | {r['znodes']:,} | {fmt(r.get('rss_after_load_mb'), ' MB', 0)} | {fmt(r.get('peak_rss_load_mb'), ' MB', 0)} | "
                f"{fmt(r.get('rss_settled_mb'), ' MB', 0)} | {fmt(r.get('live_heap_mb'), ' MB', 0)} | "
                f"{fmt((r.get('largest_snapshot_bytes') or 0) / 1e6, ' MB', 0)} | {fmt(r.get('restart_to_serving_ms'), ' ms', 0)} | "
                f"{fmt(r.get('restart_cpu_secs'), ' s', 2)} | {fmt(r.get('rss_after_restart_mb'), ' MB', 0)} ({fmt(r.get('peak_rss_restart_mb'), ' MB', 0)}) | "
                f"{fmt(r.get('machine_load'), '', 1)} |"
            )
        out.append("")
    sess = [r for r in records if r.get("record") == "memory_sessions"]
    if sess:
        out.append("| server | bytes per idle session (RSS) | (live heap) | bytes per watch (RSS) | (live heap) |")
        out.append("|---|---|---|---|---|")
        for r in sess:
            out.append(
                f"| {r['server']} | {fmt(r.get('bytes_per_session_rss'), '', 0)} | {fmt(r.get('bytes_per_session_heap'), '', 0)} | "
                f"{fmt(r.get('bytes_per_watch_rss'), '', 0)} | {fmt(r.get('bytes_per_watch_heap'), '', 0)} |"
            )
        out.append("")
    return out


def big_tree_table(records):
    big = [r for r in records if r.get("record") == "big_tree"]
    if not big:
        return []
    out = ["| server | znodes | load rate | RSS after load (peak) | largest snapshot | last snapshot: znodes, written in | kill -9 to serving | restart CPU | RSS after restart (peak) | machine load |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in big:
        nodes = r.get("last_snapshot_nodes")
        out.append(
            f"| {r['server']} | {r['znodes']:,} | {fmt_rate(r.get('load_ops_per_sec'))} | {fmt(r.get('rss_after_load_mb'), ' MB', 0)} ({fmt(r.get('peak_rss_load_mb'), ' MB', 0)}) | "
            f"{fmt((r.get('largest_snapshot_bytes') or 0) / 1e9, ' GB', 2)} | {'–' if nodes is None else f'{nodes:,}'}, {fmt(r.get('last_snapshot_ms'), ' ms', 0)} | "
            f"{fmt(r.get('restart_to_serving_ms'), ' ms', 0)} | "
            f"{fmt(r.get('restart_cpu_secs'), ' s', 1)} | {fmt(r.get('rss_after_restart_mb'), ' MB', 0)} ({fmt(r.get('peak_rss_restart_mb'), ' MB', 0)}) | "
            f"{fmt(r.get('machine_load'), '', 1)} |"
        )
    out.append("")
    return out


def hand_written(name):
    """The lines of a hand-written part of the page (benches/NAME), if there is one: the notes
    on the published run and the memory model are kept there, so a regenerated page keeps them."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return f.read().rstrip().split("\n") + [""]


class Plotter:
    """Writes gnuplot data and scripts into a scratch directory and renders SVGs."""

    def __init__(self, chart_dir):
        self.chart_dir = chart_dir
        self.tmp = tempfile.mkdtemp(prefix="zkr-report.")
        self.gnuplot = shutil.which("gnuplot")

    def data(self, name, rows):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            for row in rows:
                f.write(" ".join("NaN" if v is None else str(v) for v in row) + "\n")
        return path

    def render(self, svg, script):
        if not self.gnuplot:
            return False
        path = os.path.join(self.tmp, svg + ".gp")
        with open(path, "w") as f:
            f.write(f'set terminal svg size 960,420 dynamic font "sans,12" background "white"\n')
            f.write(f'set output "{os.path.join(self.chart_dir, svg)}"\n')
            f.write(script)
        subprocess.run([self.gnuplot, path], check=True)
        return True


def charts(bench, records, plotter):
    made = []
    for mode, mode_name, w, name, readings in bench.series():
        rows = [[c, z and z.get("ops_per_sec"), a and a.get("ops_per_sec"), z and z.get("p99_ms"), a and a.get("p99_ms")]
                for c, z, a in readings]
        dat = plotter.data(f"{w}-{mode}.dat", rows)
        who = "watchers" if w == "watch-fanout" else "clients"
        unit = "rounds/s" if w == "watch-fanout" else "ops/s"
        svg = f"{w}-{mode}.svg"
        script = f"""
set multiplot layout 1,2 title "{name}, {mode_name}"
set logscale x 2
set xlabel "{who}"
set key below
set grid
set yrange [0:*]
set ylabel "throughput ({unit})"
plot "{dat}" using 1:2 with linespoints lw 2 pt 7 title "zkr", "{dat}" using 1:3 with linespoints lw 2 pt 5 title "Apache ZooKeeper"
set ylabel "p99 latency (ms)"
plot "{dat}" using 1:4 with linespoints lw 2 pt 7 title "zkr", "{dat}" using 1:5 with linespoints lw 2 pt 5 title "Apache ZooKeeper"
unset multiplot
"""
        if plotter.render(svg, script):
            made.append((f"{name}, {mode_name}", svg))
    mem = [r for r in records if r.get("record") == "memory"]
    if mem:
        sizes = sorted({r["znodes"] for r in mem})
        by = {(r["server"], r["znodes"]): r for r in mem}
        rows = []
        for n in sizes:
            z, a = by.get(("zkr", n)), by.get(("apache", n))
            rows.append([n, z and z.get("rss_after_load_mb"), z and z.get("peak_rss_load_mb"),
                         a and a.get("rss_after_load_mb"), a and a.get("live_heap_mb")])
        dat = plotter.data("memory.dat", rows)
        script = f"""
set title "Memory against tree size (znodes of 100 bytes)"
set xlabel "znodes"
set ylabel "MB"
set format x "%.0s%c"
set xrange [0:*]
set key below
set grid
set yrange [0:*]
plot "{dat}" using 1:2 with linespoints lw 2 pt 7 title "zkr RSS after load", \\
     "{dat}" using 1:3 with linespoints lw 1 dt 2 pt 6 title "zkr peak RSS", \\
     "{dat}" using 1:4 with linespoints lw 2 pt 5 title "ZooKeeper RSS after load", \\
     "{dat}" using 1:5 with linespoints lw 1 dt 2 pt 4 title "ZooKeeper live heap"
"""
        if plotter.render("memory.svg", script):
            made.append(("memory against znodes", "memory.svg"))
    return made


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results_dir")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs"))
    args = ap.parse_args()
    records = load(args.results_dir)
    if not records:
        sys.exit(f"report: no results in {args.results_dir}")
    chart_dir = os.path.join(args.out, "benchmarks")
    os.makedirs(chart_dir, exist_ok=True)
    plotter = Plotter(chart_dir)
    if not plotter.gnuplot:
        print("report: gnuplot not found (scripts/setup.sh installs it): no charts", file=sys.stderr)
    bench = Bench(records)
    ctx = next((r for r in records if r.get("record") == "context"), {})
    made = charts(bench, records, plotter)

    md = ["# Benchmarks: zkr and Apache ZooKeeper, side by side", ""]
    md.append(
        "Generated by `benches/report.py` from the results of one `benches/run.sh` run "
        f"(`{os.path.relpath(args.results_dir, os.path.join(args.out, '..'))}`); regenerate them on your machine with "
        "`benches/run.sh` (the whole matrix, about an hour) or `benches/run.sh report DIR` (this page from saved results)."
    )
    md.append("")
    if ctx:
        md.append(
            f"Run of {ctx.get('date')} at zkr {ctx.get('zkr_commit')}, Apache ZooKeeper {ctx.get('apache')} (Debian), "
            f"on {ctx.get('cpus')} cores ({ctx.get('cpu_model')}), {ctx.get('mem_gb')} GB; load average at the start "
            f"{ctx.get('loadavg_start')}. Client and servers share the machine. {ctx.get('secs')} s per reading after a warm-up; "
            "fsync before acknowledging on both; 100-byte values; each session keeps 4 requests in flight."
        )
        md.append("")
    md.append("Server CPU per operation is the CPU time (user + system, from `/proc/<pid>/stat`) of all server "
              "processes over the measured window, divided by the operations completed: unlike throughput, it does "
              "not depend on how much of the machine the client takes. For the watch fan-out it is per notification.")
    md.append("")
    md += hand_written("notes.md")
    md.append(f"## The table ({TABLE_CLIENTS} clients; watch fan-out with {FANOUT_WATCHERS:,} watchers)")
    md.append("")
    md += main_table(bench)
    if made:
        md.append("## Charts")
        md.append("")
        for title, svg in made:
            md.append(f"![{title}](benchmarks/{svg})")
            md.append("")
    mem = memory_tables(records)
    if mem:
        md.append("## Memory and recovery")
        md.append("")
        md.append("`benches/memory.sh`: each size loaded into a fresh standalone server by zk-bench (16 clients, "
                  "1,000 children per parent), default snapshot settings; then kill -9 and a restart. "
                  "The memory model below says where zkr's bytes go.")
        md.append("")
        md += mem
    md += hand_written("memory-model.md")
    big = big_tree_table(records)
    if big:
        md.append("## 10 million znodes")
        md.append("")
        md.append("`benches/big-tree.sh`: load, snapshot, kill -9, restart.")
        md.append("")
        md += big
    matrix = matrix_tables(bench)
    if matrix:
        md.append("## Every reading")
        md.append("")
        md += matrix
    with open(os.path.join(args.out, "benchmarks.md"), "w") as f:
        f.write("\n".join(md).rstrip() + "\n")
    print(f"report: wrote {os.path.join(args.out, 'benchmarks.md')} and {len(made)} charts", file=sys.stderr)


if __name__ == "__main__":
    main()
