#!/usr/bin/env python3
"""Samples a snap-catchup run every 0.2 s: leader's update count (from its metrics), leader
per-thread CPU (top 3), follower CPU, Dirty/Writeback. Usage: sampler.py WORKROOT OUT"""
import glob, os, sys, time, re, urllib.request
root, outp = sys.argv[1], sys.argv[2]
tck = os.sysconf('SC_CLK_TCK')
def find():
    for d in glob.glob(root + '/zkr-snapcatchup.*/zkr'):
        return d
def pid_of(d, i):
    try: return int(open(f'{d}/n{i}/pid').read())
    except Exception: return None
def threads(pid):
    r = {}
    for t in glob.glob(f'/proc/{pid}/task/*'):
        try:
            s = open(t + '/stat').read()
            name = s[s.index('(')+1:s.rindex(')')]
            f = s[s.rindex(')')+2:].split()
            r[t.rsplit('/',1)[1]] = (name, int(f[11]) + int(f[12]))
        except Exception: pass
    return r
def meminfo():
    m = {}
    for l in open('/proc/meminfo'):
        k, v = l.split(':'); m[k] = int(v.split()[0])
    return m['Dirty']//1024, m['Writeback']//1024
def metric(port, names):
    try:
        t = urllib.request.urlopen(f'http://127.0.0.1:{port}/metrics', timeout=0.15).read().decode()
    except Exception: return {}
    r = {}
    for l in t.splitlines():
        for n in names:
            if l.startswith(n + ' ') or l.startswith(n + '{'):
                try: r[l.split(' ')[0]] = float(l.rsplit(' ',1)[1])
                except Exception: pass
    return r
d = None
while d is None:
    d = find(); time.sleep(0.5)
out = open(outp, 'w')
base = None
while True:
    if not os.path.exists(d): break
    try:
        toml = open(f'{d}/n1/zkr.toml').read(); base = int(re.search(r'client_port = (\d+)', toml).group(1))
    except Exception: time.sleep(0.5); continue
    break
prev = {}; prevf = {}
t0 = time.time()
while os.path.exists(d):
    now = time.time() - t0
    row = [f'{now:7.1f}']
    for i in (1, 2, 3):
        pid = pid_of(d, i)
        if not pid or not os.path.exists(f'/proc/{pid}'):
            row.append(f'n{i}:down'); continue
        th = threads(pid)
        deltas = []
        for tid, (name, ticks) in th.items():
            p = prev.get((pid, tid))
            if p is not None: deltas.append((ticks - p, name))
            prev[(pid, tid)] = ticks
        tot = sum(x for x, _ in deltas)
        top = sorted(deltas, reverse=True)[:3]
        m = metric(base + 200 + i - 1, ['updatelatency_count', 'zkr_fsync_seconds_count', 'fsynctime_sum', 'fsynctime_count'])
        row.append(f'n{i}:{tot*100//max(1,tck)//0.2:.0f}% ' + ','.join(f'{n}={x}' for x, n in top if x) + ' upd=' + str(int(m.get('updatelatency_count', -1))) + ' fs=' + str(int(m.get('fsynctime_count', -1))) + ' fss=' + f"{m.get('fsynctime_sum', -1):.3f}")
    row.append('dirty=%d wb=%d' % meminfo())
    out.write(' | '.join(row) + '\n'); out.flush()
    time.sleep(0.2)
