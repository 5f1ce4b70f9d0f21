#!/usr/bin/env bash
# 10 million znodes: a standalone zkr node loads them (zk-bench, 100-byte values, 1,000 children
# per parent, 16 clients), writes snapshots of them, is killed with kill -9 and restarts from its
# newest snapshot and log. Figures: load rate, resident memory (and its peak), the last snapshot's
# size, node count and write time, the time from the restart until the last znode is served, the
# restart's CPU time and memory.
#
#   benches/big-tree.sh [znodes] [servers]     default: 10000000 zkr
#
# With a tree this size the node runs with snap_count = 1,000,000 (ZooKeeper's users raise
# snapCount for big trees too) and purges every 0.02 h keeping 3 snapshots, so the disk holds a
# few snapshots, not one per 100k txns. Apache ZooKeeper can be measured too ("zkr apache"; its
# heap is APACHE_HEAP, 8g here). Takes about an hour on 2 shared cores; needs ~25 GB of disk.
# Writes one "big_tree" JSON line to stdout and to $OUT/big-tree.jsonl (OUT defaults to the
# newest benches/results/* directory), where benches/report.py finds it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
n=${1:-10000000}
servers=${2:-zkr}
OUT=${OUT:-$(ls -d "$here"/results/*/ 2>/dev/null | tail -1)}
OUT=${OUT:-$here/results/big-tree}
mkdir -p "$OUT"
export ZKR_STORAGE=${ZKR_STORAGE:-$'snap_count = 1000000\nsnap_retain_count = 3\npurge_interval_hours = 0.02'}
export APACHE_CFG=${APACHE_CFG:-$'snapCount=1000000\nautopurge.snapRetainCount=3\nautopurge.purgeInterval=1'}
export APACHE_HEAP=${APACHE_HEAP:-8g}
export RECORD=big_tree NO_SESSIONS=1 SETTLE_SECS=${SETTLE_SECS:-30}
"$here/memory.sh" "$n" "$servers" | tee -a "$OUT/big-tree.jsonl"
