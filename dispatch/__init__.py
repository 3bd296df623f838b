"""Field-visit dispatch engine: plain Python, no web framework, no database.

The Flask service calls these functions in-process; ``python -m dispatch``
offers the same through the JSON file contract in ``shared/dispatch-contract.md``.
"""

from .check import check
from .generate import generate
from .model import REASONS
from .problem import ProblemError, validate
from .replan import drop_collector, insert_task
from .solver import solve

__all__ = ["solve", "check", "validate", "generate", "insert_task", "drop_collector", "ProblemError", "REASONS"]
