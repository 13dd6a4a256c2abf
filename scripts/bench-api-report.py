"""The tables of `make bench-api` from its oha summaries (one JSON object a line, written by
scripts/bench-api.sh): latencies at a fixed rate against the 10 ms p99 target, each service
against its ceiling (target: at least half its throughput), and the gateway's overhead."""

import json
import sys

TASKS_P99_TARGET_MS = 10.0
CEILING_SHARE_TARGET = 0.5

runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]


def ms(seconds):
    return f"{seconds * 1000:.2f}"


def failures(run):
    """Requests that were not answered 2xx, or not answered at all (except those still in
    flight when the run's time was up)."""
    bad = sum(n for code, n in run["codes"].items() if not code.startswith("2"))
    return bad + sum(n for error, n in run["errors"].items() if error != "aborted due to deadline")


def row(run, *extra):
    cells = [run["name"], f"{run['rps']:.0f}", ms(run["p50"]), ms(run["p99"]), ms(run["max"]),
             str(failures(run)), *extra]
    print("| " + " | ".join(cells) + " |")


HEADER = "| request | req/s | p50 ms | p99 ms | max ms | not 2xx |"

print("Task query of a policy with 100,000 tasks, at a fixed rate (latency-corrected):\n")
print(HEADER + " p99 ≤ 10 ms |")
print("|---|---:|---:|---:|---:|---:|---|")
for run in (r for r in runs if r["group"] == "tasks"):
    met = run["p99"] * 1000 <= TASKS_P99_TARGET_MS and failures(run) == 0
    row(run, "met" if met else "**missed**")

print("\nEach service against the bare actix-web + diesel + r2d2 ceiling, full speed:\n")
print(HEADER + " service ÷ ceiling |")
print("|---|---:|---:|---:|---:|---:|---:|")
for group in ("create", "list", "show", "blist"):
    pair = [r for r in runs if r["group"] == group]
    if len(pair) != 2:
        continue
    ceiling, service = pair
    share = service["rps"] / ceiling["rps"]
    verdict = "met" if share >= CEILING_SHARE_TARGET and failures(service) == 0 else "**missed**"
    row(service, f"**{share:.2f}** ({verdict})")
    row(ceiling, "")

print("\nThe gateway, at a fixed rate:\n")
print(HEADER + " nginx adds (p50 / p99 ms) |")
print("|---|---:|---:|---:|---:|---:|---|")
gateway = [r for r in runs if r["group"] == "gateway"]
for direct, proxied in zip(gateway[::2], gateway[1::2]):
    row(direct, "")
    row(proxied, f"{(proxied['p50'] - direct['p50']) * 1000:+.2f} / {(proxied['p99'] - direct['p99']) * 1000:+.2f}")
