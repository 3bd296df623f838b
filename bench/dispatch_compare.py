"""Side-by-side comparison of the dispatch engine with VROOM, OR-Tools and a greedy baseline.

    python bench/dispatch_compare.py --sizes 200,1000,10000 --seeds 1,2,3
    python bench/dispatch_compare.py --families all --seeds 1,2,3,4,5,6 [--baseline REV]

With ``--families``, every problem of each family (``dispatch.generate.FAMILIES``)
is solved first by VROOM at exploration level 5, then by the engine with a time
limit of 95 % of VROOM's own seconds on that problem (``--engine-seconds
default``: and no more than the engine's default budget), and optionally by the
engine of an earlier git revision with the same limit; per family it prints the mean and worst distance gap to VROOM,
the assigned counts, the tasks VROOM assigned that the engine left out, and the
seconds.  The load average is printed with every family.

For every size and seed a Shanghai problem is generated (one collector per
8.33 tasks, as in a 1,000-task / 120-collector day), every peer solves it in
its own subprocess (see ``dispatch_peers.py``) under a wall-clock timeout,
and the plan is verified with ``dispatch.check``.  "seconds" is the solve's
own wall time (problem dict to routes); "cpu s" and "peak MB" are the whole
subprocess's CPU time and maximum resident set, read with ``os.wait4``.  A peer that
timed out on a size is not run again on that size, and a slower VROOM level
is not started where a faster one timed out; the table says so.
Plans and problems are kept in ``bench/out/``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from dispatch import check, generate  # noqa: E402
from dispatch.generate import FAMILIES, generate_family  # noqa: E402
from dispatch.solver import default_time_limit  # noqa: E402

PEERS = ["engine", "vroom0", "vroom2", "vroom5", "ortools", "greedy"]
# With --families the engine gets this share of VROOM level 5's seconds on the
# same problem, so that a step begun just before its deadline keeps it within VROOM's.
SAME_TIME_SHARE = 0.95
# A VROOM level is not started where a faster level already timed out.
SLOWER_THAN = {"vroom2": "vroom0", "vroom5": "vroom2"}


def run_peer(peer: str, problem: Path, plan: Path, timeout: float, env: dict | None = None) -> dict:
    """Run one peer; returns wall and CPU seconds, peak MB and an error or None.

    CPU seconds (user + system of the subprocess) are reported beside the
    solve's wall time because the machine may be shared: wall time suffers
    from other load, CPU time much less.
    """
    began = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "dispatch_peers.py"), peer, str(problem), str(plan)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=None if env is None else {**os.environ, **env},
    )
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - began > timeout:
            proc.send_signal(signal.SIGKILL)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = -9
            return {
                "wall": time.perf_counter() - began,
                "peak_mb": usage.ru_maxrss / 1024,
                "cpu": usage.ru_utime + usage.ru_stime,
                "error": f"timed out after {timeout:.0f} s",
            }
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    error = None
    if proc.returncode != 0:
        lines = proc.stderr.read().decode(errors="replace").strip().splitlines()
        error = lines[-1] if lines else f"exit {proc.returncode}"
    proc.stderr.close()
    return {
        "wall": time.perf_counter() - began,
        "peak_mb": usage.ru_maxrss / 1024,
        "cpu": usage.ru_utime + usage.ru_stime,
        "error": error,
    }


def verdict(engine: dict, peer: dict) -> str:
    """How the engine's plan summary compares with a peer's.

    "better" / "equal" in the contract's lexicographic order; otherwise
    "within" when priority sum and assigned count are within 1% and the
    distance within 3% of the peer's, else "worse"; with the differences.
    """

    def pct(key):
        return 100.0 * (engine[key] - peer[key]) / peer[key] if peer[key] else 0.0

    key_e = (engine["priority_sum"], engine["assigned"], -engine["distance_km"])
    key_p = (peer["priority_sum"], peer["assigned"], -peer["distance_km"])
    if key_e > key_p:
        word = "better"
    elif key_e == key_p:
        word = "equal"
    elif pct("priority_sum") >= -1 and pct("assigned") >= -1 and pct("distance_km") <= 3:
        word = "within"
    else:
        word = "worse"
    return (
        f"{word:<6} (priority {pct('priority_sum'):+.2f}%, assigned {pct('assigned'):+.2f}%, "
        f"km {pct('distance_km'):+.2f}%)"
    )


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def baseline_root(rev: str, out: Path) -> Path:
    """The ``dispatch`` package of git revision ``rev``, extracted under ``out``."""
    root = out / f"engine-{rev}"
    if not (root / "dispatch").is_dir():
        root.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(HERE.parent), "archive", rev, "dispatch"], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    return root


def solved(result: dict, problem: dict, plan_path: Path) -> dict | None:
    """The plan's summary and its task set, or None when the peer failed or the plan is infeasible."""
    if result["error"]:
        return None
    plan = json.loads(plan_path.read_text(encoding="utf-8"))
    if check(problem, plan):
        return None
    return {**plan["summary"], "tasks": {s["task"] for r in plan["routes"] for s in r["stops"]}}


def compare_families(args, out: Path) -> None:
    """VROOM level 5 and the engine (same seconds) on every problem of each family."""
    families = sorted(FAMILIES) if args.families == "all" else args.families.split(",")
    seeds = [int(x) for x in args.seeds.split(",")]
    engines = [("engine", None)]
    if args.baseline:
        engines.append((f"engine@{args.baseline}", {"DISPATCH_ENGINE_ROOT": str(baseline_root(args.baseline, out))}))
    lines = [f"machine: {os.cpu_count()} CPUs, {load()}"]
    print(lines[0], flush=True)
    header = f"{'family':<22} {'seed':>4} {'peer':<16} {'assigned':>8} {'km':>9} {'gap':>7} {'seconds':>8}  note"
    print(header)
    lines.append(header)
    summary = []
    for family in families:
        rows = {name: [] for name, _ in engines}
        vroom_rows = []
        for seed in seeds:
            problem = generate_family(family, seed)
            problem_path = out / f"problem-{family}-{seed}.json"
            problem_path.write_text(json.dumps(problem), encoding="utf-8")
            v_path = out / f"plan-{family}-{seed}-vroom5.json"
            v = solved(run_peer("vroom5", problem_path, v_path, args.timeout), problem, v_path)
            if v is None:
                line = f"{family:<22} {seed:>4} {'vroom5':<16} failed or infeasible"
                print(line, flush=True)
                lines.append(line)
                continue
            vroom_rows.append(v)
            line = (
                f"{family:<22} {seed:>4} {'vroom5':<16} {v['assigned']:>8} "
                f"{v['distance_km']:>9.1f} {'':>7} {v['solve_seconds']:>8.2f}"
            )
            print(line, flush=True)
            lines.append(line)
            limit = SAME_TIME_SHARE * v["solve_seconds"]
            if args.engine_seconds == "default":
                limit = min(limit, default_time_limit(len(problem["tasks"])))
            for name, env in engines:
                path = out / f"plan-{family}-{seed}-{name}.json"
                e = solved(run_peer(f"engine:{limit:.3f}", problem_path, path, args.timeout, env), problem, path)
                if e is None:
                    line = f"{family:<22} {seed:>4} {name:<16} failed or infeasible"
                else:
                    e["gap"] = 100.0 * (e["distance_km"] / v["distance_km"] - 1.0)
                    e["missed"] = len(v["tasks"] - e["tasks"])
                    e["key"] = (e["priority_sum"], e["assigned"]) >= (v["priority_sum"], v["assigned"])
                    rows[name].append(e)
                    note = "" if e["key"] else "fewer priority/assigned than vroom5"
                    if e["missed"]:
                        note += f" {e['missed']} of vroom5's tasks left out"
                    line = (
                        f"{family:<22} {seed:>4} {name:<16} {e['assigned']:>8} "
                        f"{e['distance_km']:>9.1f} {e['gap']:>+6.2f}% "
                        f"{e['solve_seconds']:>8.2f}  {note.strip()}"
                    )
                print(line, flush=True)
                lines.append(line)
        for name, _ in engines:
            got = rows[name]
            if not got:
                summary.append(f"{family:<22} {name:<16} no comparable plans")
                continue
            gaps = [e["gap"] for e in got]
            summary.append(
                f"{family:<22} {name:<16} {len(got):>3} {sum(gaps) / len(gaps):>+7.2f}% "
                f"{max(gaps):>+7.2f}% {sum(e['assigned'] for e in got):>6}/"
                f"{sum(v['assigned'] for v in vroom_rows):<6} "
                f"{sum(e['missed'] for e in got):>6} "
                f"{sum(e['solve_seconds'] for e in got) / len(got):>7.2f} "
                f"{sum(v['solve_seconds'] for v in vroom_rows) / len(vroom_rows):>7.2f}  {load()}"
            )
    head = (
        f"{'family':<22} {'engine':<16} {'n':>3} {'mean gap':>8} {'worst':>8} "
        f"{'assigned/vroom5':>13} {'missed':>6} {'eng s':>7} {'vroom s':>7}"
    )
    print()
    print(head)
    print("\n".join(summary))
    lines += ["", head] + summary
    (out / "dispatch_families.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200,1000,10000")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--out", default=str(HERE / "out"))
    parser.add_argument(
        "--families", default=None, help="comma-separated family names or 'all': compare with VROOM level 5"
    )
    parser.add_argument(
        "--engine-seconds",
        choices=["vroom5", "default"],
        default="vroom5",
        help="with --families: the engine's limit is VROOM level 5's seconds "
        "on the problem, or that but at most its default budget",
    )
    parser.add_argument(
        "--baseline", default=None, help="also run the engine of this git revision, with the same limit"
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.families:
        compare_families(args, out)
        return
    peers = args.peers.split(",")
    if args.baseline:
        peers.insert(peers.index("engine") + 1 if "engine" in peers else 0, f"engine@{args.baseline}")
    rows, verdicts = [], []
    header = (
        f"{'tasks':>6} {'seed':>4} {'peer':<15} {'priority':>9} {'assigned':>8} "
        f"{'km':>9} {'seconds':>8} {'cpu s':>7} {'peak MB':>8}  check / note"
    )
    print(header)
    print("-" * len(header))
    for size in (int(s) for s in args.sizes.split(",")):
        collectors = max(1, round(size / 8.33))
        timed_out: dict[str, int] = {}
        too_slow: set[str] = set()
        for seed in (int(s) for s in args.seeds.split(",")):
            problem = generate(size, collectors, seed=seed)
            problem_path = out / f"problem-{size}-{seed}.json"
            problem_path.write_text(json.dumps(problem), encoding="utf-8")
            summaries = {}
            for peer in peers:
                prefix = f"{size:>6} {seed:>4} {peer:<15}"
                skip = None
                if peer in timed_out:
                    skip = f"skipped: timed out ({args.timeout:.0f} s) on seed {timed_out[peer]}"
                elif SLOWER_THAN.get(peer) in timed_out or SLOWER_THAN.get(peer) in too_slow:
                    too_slow.add(peer)  # so that the next level up is skipped as well
                    skip = (
                        f"skipped: a lower VROOM level already timed out "
                        f"({args.timeout:.0f} s); level {peer[5:]} is slower"
                    )
                if skip:
                    line = f"{prefix} {'-':>9} {'-':>8} {'-':>9} {'-':>8} {'-':>7} {'-':>8}  {skip}"
                    print(line, flush=True)
                    rows.append(line)
                    continue
                plan_path = out / f"plan-{size}-{seed}-{peer}.json"
                plan_path.unlink(missing_ok=True)
                env = None
                if peer.startswith("engine@"):
                    env = {"DISPATCH_ENGINE_ROOT": str(baseline_root(peer[7:], out))}
                result = run_peer("engine" if env else peer, problem_path, plan_path, args.timeout, env)
                if result["error"]:
                    if result["error"].startswith("timed out"):
                        timed_out[peer] = seed
                    line = (
                        f"{prefix} {'-':>9} {'-':>8} {'-':>9} {result['wall']:>8.1f} "
                        f"{result['cpu']:>7.1f} {result['peak_mb']:>8.0f}  {result['error']}"
                    )
                else:
                    plan = json.loads(plan_path.read_text(encoding="utf-8"))
                    violations = check(problem, plan)
                    s = plan["summary"]
                    summaries[peer] = s
                    status = "ok" if not violations else f"FAILED: {len(violations)} violations"
                    line = (
                        f"{prefix} {s['priority_sum']:>9} {s['assigned']:>8} "
                        f"{s['distance_km']:>9.1f} {s['solve_seconds']:>8.1f} "
                        f"{result['cpu']:>7.1f} {result['peak_mb']:>8.0f}  {status}"
                    )
                print(line, flush=True)
                rows.append(line)
            if "engine" in summaries:
                for peer, s in summaries.items():
                    if peer != "engine":
                        verdicts.append(f"{size:>6} {seed:>4} engine vs {peer:<8} {verdict(summaries['engine'], s)}")
    print()
    print("\n".join(verdicts))
    (out / "dispatch_compare.txt").write_text("\n".join([header] + rows + [""] + verdicts) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
