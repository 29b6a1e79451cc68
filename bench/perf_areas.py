#!/usr/bin/env python3
"""Group the samples of `perf script -F comm,tid,time,ip,sym --inline` (bench/profile.sh) into
areas of loadtide's request path, each sample into the first area (in the order below) whose
marker appears in its call chain; per area the share of samples and how much of it is kernel
(the leaf frame in the kernel) or in the process itself.

  perf_areas.py CASE.script.txt [TOP]   # TOP user-space leaf functions per area (6)
"""
import re
import sys
from collections import Counter

AREAS = [  # (area, regex on the whole call chain), first match wins
    ("recording (ProfileRecorder::record: prometheus + HDR + per-second stats)",
     r"ProfileRecorder::record|RunStats::record"),
    ("spawning the arrival's task (open model: TaskTracker::spawn, copying the future into the task cell)",
     r"TaskTracker::spawn"),
    ("connect (TCP connect, pool miss)", r"HttpClient::connect|connect_tcp"),
    ("hyper connection task (h1 dispatcher: encode, writev, read, parse)",
     r"client::handshake::\{\{closure\}\}::\{\{closure\}\}"),
    ("request future: exchange/send (Request + HeaderMap clone, SendRequest, channel, body)",
     r"HttpClient as loadtide::engine::transport::Transport>::exchange|HttpClient::send"),
    ("request task, rest (timeout, poll/drop of the task, pool take/put)",
     r"Run<T>::open::\{\{closure\}\}::\{\{closure\}\}|Transport::call|User<T>::run"),
    ("pacer loop (open model: next_due, sleep_until, permits, lag)",
     r"Run<T>::open::\{\{closure\}\}|Run<T>::drive"),
    ("time driver (tokio's timer wheel; the park in epoll_wait until the next timer runs under it)",
     r"tokio::runtime::time::"),
    ("tokio scheduler, park/epoll, wakers", r"tokio::runtime::|mio::"),
]

def samples(path):
    cur = None
    for line in open(path, errors="replace"):
        if not line.strip():
            if cur:
                yield cur
            cur = None
        elif not line.startswith(("\t", " ")):
            cur = []
        elif cur is not None:
            parts = line.strip().split(None, 1)
            cur.append((parts[0], parts[1] if len(parts) > 1 else ""))
    if cur:
        yield cur

def leaf_name(sym):
    sym = re.sub(r" \(inlined\)$", "", sym)
    return sym if len(sym) <= 90 else sym[:87] + "..."

def main(path, top=6):
    tot, by, kern, leaves = 0, Counter(), Counter(), {}
    for frames in samples(path):
        tot += 1
        chain = "\n".join(s for _, s in frames)
        area = next((a for a, rx in AREAS if re.search(rx, chain)), "other (start-up, unknown)")
        by[area] += 1
        if frames and frames[0][0].startswith("ffffffff"):
            kern[area] += 1
        elif frames:
            leaves.setdefault(area, Counter())[leaf_name(frames[0][1])] += 1
    print(f"{tot} samples")
    print(f"{'share':>7} {'kernel':>7} {'user':>7}  area")
    for a, n in by.most_common():
        print(f"{100 * n / tot:6.1f}% {100 * kern[a] / tot:6.1f}% {100 * (n - kern[a]) / tot:6.1f}%  {a}")
    print(f"-- top user-space leaf functions per area (share of all samples) --")
    for a, n in by.most_common():
        if a in leaves:
            print(a)
            for sym, k in leaves[a].most_common(top):
                print(f"   {100 * k / tot:5.1f}%  {sym}")

if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 6)
