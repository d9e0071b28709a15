#!/usr/bin/python3
"""Plots a chaos_bench --csv file (one row per sampling interval) as a PNG for the docs.

    /usr/bin/python3 bench/plot_samples.py samples.csv out.png "title"

Needs python3-matplotlib (Debian). Panels: throughput and p50/p99 of the interval's successful
calls; RSS, open file descriptors and threads of every process. Prints, per series, the first
and last fifth's means and the least-squares slope per hour, the figures behind "flat".
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def slope_per_hour(ts, ys):
    n = len(ts)
    mt, my = sum(ts) / n, sum(ys) / n
    var = sum((t - mt) ** 2 for t in ts)
    return 0.0 if var == 0 else sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / var * 3600


def main():
    path, out, title = sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else ""
    with open(path) as f:
        rows = list(csv.DictReader(f))
    t = [float(r["t_s"]) / 60 for r in rows]
    procs = [c[: -len("_rss_mb")] for c in rows[0] if c.endswith("_rss_mb")]
    fig, ax = plt.subplots(4, 1, figsize=(10, 13), sharex=True)
    ax[0].plot(t, [float(r["ok_per_s"]) for r in rows], label="ok calls/s")
    ax[0].plot(t, [float(r["failed_per_s"]) for r in rows], label="failed calls/s")
    ax0b = ax[0].twinx()
    ax0b.plot(t, [float(r["p50_ms"]) for r in rows], "g:", label="p50 ms")
    ax0b.plot(t, [float(r["p99_ms"]) for r in rows], "r--", label="p99 ms")
    ax0b.set_ylabel("latency of ok calls, ms")
    ax0b.set_ylim(bottom=0)
    ax[0].set_ylabel("calls/s")
    ax[0].set_ylim(bottom=0)
    ax[0].legend(loc="upper left")
    ax0b.legend(loc="upper right")
    for i, (suffix, label) in enumerate(
        [("_rss_mb", "RSS, MiB"), ("_fds", "open fds"), ("_threads", "threads")], start=1
    ):
        for p in procs:
            ax[i].plot(t, [float(r[p + suffix]) for r in rows], label=p)
        ax[i].set_ylabel(label)
        ax[i].set_ylim(bottom=0)
        ax[i].legend(loc="upper left", ncol=len(procs))
    ax[-1].set_xlabel("minutes")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=80)

    ts = [float(r["t_s"]) for r in rows]
    fifth = max(1, len(rows) // 5)
    series = ["ok_per_s", "p99_ms"] + [p + s for p in procs for s in ("_rss_mb", "_fds", "_threads")]
    print("series | first fifth mean | last fifth mean | slope per hour")
    for s in series:
        ys = [float(r[s]) for r in rows]
        first = sum(ys[:fifth]) / fifth
        last = sum(ys[-fifth:]) / fifth
        print(f"{s} | {first:.1f} | {last:.1f} | {slope_per_hour(ts, ys):+.2f}")


if __name__ == "__main__":
    main()
