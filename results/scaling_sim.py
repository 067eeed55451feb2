#!/usr/bin/env python3
"""Projects the sampling phase of static and dynamic rollout scheduling (rollout.schedule) to many ranks from
measured per-group costs. Used by results/scaling.sh; prints a Markdown table.

Usage: scaling_sim.py GROUP_TIMES [GROUPS_PER_RANK] [QUEUE_LATENCY_S]

GROUP_TIMES holds the lines RLVR_GROUP_TIMES writes (src/train/groups.c) for a 1-rank run with one group per
step, one group per line: step rank candidate groups prompt_tokens response_tokens seconds.

Model (the assumptions of results/scaling.md):
- A step has P = GROUPS_PER_RANK x R groups, drawn independently from the measured groups (bootstrap).
- A group's cost is its measured time; a rank's groups cost the sum of theirs (no gain from batching several
  groups into one decode, none from interleaving).
- static: rank r samples groups [r P/R, (r+1) P/R) in index order; the phase ends when the slowest rank ends.
- dynamic: groups are put longest prompt first (ties by index) and cut into the chunks of
  src/rollout/schedule.c (max(1, floor(remaining / (2 R))) groups); each rank, when free, pays QUEUE_LATENCY_S
  for one fetch and takes the next chunk (list scheduling). A chunk costs the sum of its groups.
- waiting: the mean over ranks of (phase time - rank's busy time), as a share of the phase time.
"""
import heapq
import random
import statistics
import sys


def load(path):
    groups = []
    for line in open(path):
        f = line.split()
        if len(f) == 7 and f[3] == "1":
            groups.append((int(f[4]), float(f[6])))  # prompt tokens, seconds
    if not groups:
        sys.exit(f"{path}: no one-group lines (run the 1-rank measurement with train.prompts_per_step = 1)")
    return groups


def static(step, ranks):
    per = len(step) // ranks
    busy = [sum(c for _, c in step[r * per:(r + 1) * per]) for r in range(ranks)]
    return max(busy), busy


def chunks(n, ranks):
    at, out = 0, []
    while at < n:
        c = max(1, (n - at) // (2 * ranks))
        out.append((at, at + c))
        at += c
    return out


def dynamic(step, ranks, latency):
    order = sorted(range(len(step)), key=lambda i: (-step[i][0], i))
    free = [(0.0, r) for r in range(ranks)]  # (time the rank is free, rank)
    busy = [0.0] * ranks
    for lo, hi in chunks(len(order), ranks):
        t, r = heapq.heappop(free)
        cost = latency + sum(step[i][1] for i in order[lo:hi])
        busy[r] += cost
        heapq.heappush(free, (t + cost, r))
    return max(t for t, _ in free), busy


def main():
    groups = load(sys.argv[1])
    per_rank = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    latency = float(sys.argv[3]) if len(sys.argv) > 3 else 50e-6
    rng = random.Random(1)
    costs = sorted(c for _, c in groups)
    print(f"{len(groups)} measured groups: median {1e3 * statistics.median(costs):.2f} ms, "
          f"p90 {1e3 * costs[int(0.9 * len(costs))]:.2f} ms, max {1e3 * costs[-1]:.2f} ms; "
          f"{per_rank} groups per rank, queue latency {1e6 * latency:.0f} us, 200 simulated steps\n")
    print("| ranks | static phase (ms) | dynamic phase (ms) | static / dynamic | static waiting | dynamic waiting | lower bound (ms) |")
    print("|---|---|---|---|---|---|---|")
    for ranks in (2, 4, 64, 512):
        rows = []
        for _ in range(200):
            step = [rng.choice(groups) for _ in range(per_rank * ranks)]
            ts, bs = static(step, ranks)
            td, bd = dynamic(step, ranks, latency)
            total = sum(c for _, c in step)
            bound = max(total / ranks, max(c for _, c in step))
            rows.append((ts, td, sum(ts - b for b in bs) / ranks / ts, sum(td - b for b in bd) / ranks / td, bound))
        m = [statistics.mean(x) for x in zip(*rows)]
        print(f"| {ranks} | {1e3 * m[0]:.1f} | {1e3 * m[1]:.1f} | {m[0] / m[1]:.2f} | {100 * m[2]:.0f}% | "
              f"{100 * m[3]:.0f}% | {1e3 * m[4]:.1f} |")


if __name__ == "__main__":
    main()
