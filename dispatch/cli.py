"""``python -m dispatch solve|check|generate`` — the engine's command-line face.

Exit codes: 0 success (for ``check``: the plan is feasible), 1 ``check``
found violations, 2 invalid input (one ``path: message`` line per problem on
standard error, and no plan).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .check import check
from .generate import CITIES, FAMILIES, generate, generate_family
from .problem import ProblemError
from .solver import solve

EXIT_INVALID = 2


def _load(path: str, what: str) -> Any:
    """Parsed JSON of a file or ``-`` (stdin); raises ProblemError if unreadable."""
    try:
        if path == "-":
            return json.load(sys.stdin)
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as exc:
        raise ProblemError([f"{what}: cannot read {path}: {exc.strerror}"]) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProblemError([f"{what}: not valid JSON: {exc}"]) from None


def _cmd_solve(args: argparse.Namespace) -> int:
    plan = solve(_load(args.problem, "problem"), time_limit=args.time_limit)
    text = json.dumps(plan, ensure_ascii=False, indent=1)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    else:
        print(text)
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    problem = _load(args.problem, "problem")
    plan = _load(args.plan, "plan")
    violations = check(problem, plan)
    for line in violations:
        print(line)
    if not violations:
        print("ok: plan is feasible")
    return 1 if violations else 0


def _cmd_generate(args: argparse.Namespace) -> int:
    if (args.tasks or 0) < 0 or (args.collectors or 0) < 0:
        raise ProblemError(["generate: --tasks and --collectors must not be negative"])
    if args.family:
        problem = generate_family(args.family, seed=args.seed, tasks=args.tasks, collectors=args.collectors)
    elif args.tasks is None or args.collectors is None:
        raise ProblemError(["generate: --tasks and --collectors are required without --family"])
    else:
        problem = generate(args.tasks, args.collectors, seed=args.seed, city=args.city)
    print(json.dumps(problem, ensure_ascii=False, indent=1))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dispatch", description="Plan field-collection visits.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("solve", help="solve a problem, print the plan")
    p.add_argument("problem", help="problem JSON file, or - for standard input")
    p.add_argument("-o", "--output", help="write the plan here instead of standard output")
    p.add_argument(
        "--time-limit", type=float, default=None, help="seconds to spend (default: grows with the number of tasks)"
    )
    p.set_defaults(run=_cmd_solve)
    p = sub.add_parser("check", help="verify a plan against its problem")
    p.add_argument("problem")
    p.add_argument("plan")
    p.set_defaults(run=_cmd_check)
    p = sub.add_parser("generate", help="print a synthetic problem")
    p.add_argument("--tasks", type=int, help="required unless --family gives it")
    p.add_argument("--collectors", type=int, help="required unless --family gives it")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--city", default="shanghai", choices=sorted(CITIES))
    p.add_argument(
        "--family", choices=sorted(FAMILIES), help="a benchmark family (small days, wide windows, supplied matrix, ...)"
    )
    p.set_defaults(run=_cmd_generate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except ProblemError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        return EXIT_INVALID
