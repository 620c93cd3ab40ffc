#!/usr/bin/env python3
"""Regenerates the results table in bench/README.md from one bench/run results file.

    python3 bench/report.py bench/results/<date>.json bench/README.md

The table goes between the lines `<!-- results: begin -->` and `<!-- results: end -->`.
"""
import json
import os
import sys

BEGIN, END = "<!-- results: begin -->", "<!-- results: end -->"


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def fmt(v, digits=1):
    return "–" if v is None else f"{v:.{digits}f}"


def main(results_path, readme_path):
    rows = load(results_path)
    head = next((r for r in rows if r.get("tool") == "bench/run" and "mode" in r and not r.get("end")), {})
    tail = next((r for r in rows if r.get("end")), {})
    runs = [r for r in rows if r.get("tool") == "callproxy-bench"]
    by = {}
    for r in runs:
        by[(r["label"], r["calls"], r["backends"], r["format"])] = r

    def us(r):
        return r["target_us_per_frame"]["total"] if r and "target_us_per_frame" in r else None

    out = []
    out.append(f"`bench/run` ({head.get('mode', '?')}), {head.get('date', '?')}, commit {head.get('commit', '?')}: "
               f"{head.get('host_cpu', '?')}, {head.get('cores', '?')} cores, kernel {head.get('kernel', '?')}; "
               f"load average {head.get('load_avg', '?')} at the start, {tail.get('load_avg', '?')} at the end. "
               f"Raw lines: [`{os.path.relpath(results_path, os.path.dirname(readme_path))}`]"
               f"({os.path.relpath(results_path, os.path.dirname(readme_path))}).")
    out.append("")
    out.append("| load | serve µs/frame (user + sys) | TCP floor | Beast floor | serve ÷ TCP | serve ÷ Beast "
               "| serve p50 / p99 µs | TCP floor p50 / p99 | lost (serve / floors) | serve KiB/call | driver CPU % (serve / TCP run) "
               "| others' CPU % (serve run) |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    serve_keys = sorted({(c, b, f) for (label, c, b, f) in by if label == "serve"},
                        key=lambda k: (k[2] != "simple", k[1], k[0]))
    for calls, backends, format_ in serve_keys:
        s = by.get(("serve", calls, backends, format_))
        t = by.get(("floor-tcp", calls, 1, "twilio")) if backends == 1 else None
        b = by.get(("floor-beast", calls, 1, "twilio")) if backends == 1 else None
        su, tu, bu = us(s), us(t), us(b)
        load_name = f"{calls} × {backends}" + (f" ({format_})" if format_ != "simple" else "")
        split = (f"{fmt(su, 2)} ({fmt(s['target_us_per_frame']['user'], 1)} + "
                 f"{fmt(s['target_us_per_frame']['system'], 1)})") if su is not None else "–"
        lost = f"{s['lost']}" + (f" / {t['lost'] if t else '–'}, {b['lost'] if b else '–'}" if backends == 1 else "")
        if s.get("calls_failed"):
            lost += f" ({s['calls_failed']} calls failed)"
        if s.get("calls_streaming_at_window", calls) < calls:
            lost += f" (only {s['calls_streaming_at_window']} calls streaming when the window opened)"
        out.append("| " + " | ".join([
            load_name,
            split,
            fmt(tu, 2),
            fmt(bu, 2),
            fmt(su / tu, 2) + "×" if su and tu else "–",
            fmt(su / bu, 2) + "×" if su and bu else "–",
            f"{fmt(s['latency_us']['p50'], 0)} / {fmt(s['latency_us']['p99'], 0)}",
            f"{fmt(t['latency_us']['p50'], 0)} / {fmt(t['latency_us']['p99'], 0)}" if t else "–",
            lost,
            fmt(s.get("target_kib_per_call")),
            f"{fmt(s['driver_cpu_pct'], 0)}" + (f" / {fmt(t['driver_cpu_pct'], 0)}" if t else ""),
            fmt(s.get("others_cpu_pct"), 0),
        ]) + " |")
    out.append("")
    serve_runs = [r for r in runs if r["label"] == "serve"]
    if serve_runs:
        idle = sorted(r["target_rss_idle_kib"] for r in serve_runs if "target_rss_idle_kib" in r)
        start = sorted(r["target_startup_ms"] for r in serve_runs if "target_startup_ms" in r)
        if idle and start:
            out.append(f"serve idle RSS {idle[len(idle) // 2] / 1024:.1f} MiB (median of {len(idle)} starts); "
                       f"start to accepting {start[len(start) // 2]:.1f} ms median "
                       f"({start[0]:.1f}–{start[-1]:.1f}; exec through taskset to the first TCP connect).")
    one = us(by.get(("serve", 1000, 1, "simple")))
    three = us(by.get(("serve", 1000, 3, "simple")))
    if one and three:
        out.append(f"Three backends cost {three * 3 / one:.2f}× one per input frame "
                   f"({three:.2f} µs per forwarded frame × 3 vs {one:.2f}).")
    for r in rows:
        if r.get("crosscheck"):
            out.append(f"Cross-check at {r['calls']} calls: client-test → serve → sink gives "
                       f"{r['client_test_us_per_frame']} µs/frame, callproxy-bench {r['driver_us_per_frame']} "
                       f"µs/frame: {r['difference_pct']}% apart ({'within' if r['agree_within_15pct'] else 'NOT within'} "
                       f"15%). With every call's frames at the same instant instead of spread over the 20 ms "
                       f"(`--spread 0`), the driver measures {r.get('driver_aligned_us_per_frame', '–')} µs/frame: "
                       f"the traffic's shape matters as much as the code.")
        if r.get("tool") == "kernel-costs":
            out.append(f"Kernel costs alone (`kernel-costs`, {r['messages']} messages of {r['size']} bytes, CPU time): "
                       f"a system call {r['syscall_ns']:.0f} ns; a message sent and read over loopback TCP "
                       f"{r['tcp_message_us']:.2f} µs, over a Unix stream socket {r['unix_message_us']:.2f} µs.")
        if r.get("callgrind"):
            out.append(f"Instruction counts (callgrind, {r['calls']} calls, {r['frames_long']} − {r['frames_short']} "
                       f"frames): {r['instructions_per_frame']} instructions and {r['allocations_per_frame']} "
                       f"allocations per forwarded frame.")
    table = "\n".join(out).rstrip() + "\n"

    with open(readme_path) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        sys.exit(f"report: {readme_path} has no {BEGIN} ... {END} section")
    before, rest = text.split(BEGIN, 1)
    _, after = rest.split(END, 1)
    with open(readme_path, "w") as f:
        f.write(before + BEGIN + "\n" + table + END + after)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
