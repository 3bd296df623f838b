"""Planning a day's home visits: from the database to the engine and back.

For a date and a team (or every team of a region):

* **crews** are offered to the engine only if the policy finds them eligible on that
  date (size, every member's required training valid, background check);
* **tasks** are the cases in ``field_visit`` whose policy preconditions hold (prior
  contact, notices, no blocking flag, frequency cap); their windows are the policy's
  visiting hours in the debtor's zone narrowed to the debtor's stated availability;
  the debtor's language is a required skill; a crew with an open complaint from the
  debtor is excluded;
* the engine (``dispatch``) routes them; the draft is stored for the supervisor to
  preview beside the current plan, and committing it writes the visit tasks.

Every task carries why it went to its crew or why it stayed unassigned: the engine's
reason, or the policy's rule ids when the policy kept it out of the plan.

The work is in ``problem`` (scope and the engine's input), ``plans`` (draft, re-solve,
commit) and ``moves`` (a task moved by hand, the task list); their public names are
re-exported here.
"""

from app.services.dispatch.moves import assign_task, list_tasks, move_options, unassign_task
from app.services.dispatch.plans import commit_plan, create_plan, current_plan, get_plan
from app.services.dispatch.problem import build_problem, resolve_scope

__all__ = [
    "assign_task",
    "build_problem",
    "commit_plan",
    "create_plan",
    "current_plan",
    "get_plan",
    "list_tasks",
    "move_options",
    "resolve_scope",
    "unassign_task",
]
