"""What a person asks for, as operations that return outcomes and never print.

The command line (``imagebot/cli``) and the web view (``imagebot/web``) are both thin views
over this package: they parse a request, call one of these, and present what it returns.

- :mod:`~imagebot.operations.workloads`: which checkout, which workload (``WorkloadId``,
  ``select_workload``, ``find_target``, ``pick_repository``, ``local_checkout``, ``checkout``);
- :mod:`~imagebot.operations.explain`: ``explain(config, sites) -> [Explanation]``;
- :mod:`~imagebot.operations.change`: ``plan(config, action, workload, ...)`` (diff and
  commit message) and ``apply(...)`` (the commit), each an ``Outcome``;
- :mod:`~imagebot.operations.actions`: the named actions ``lock``, ``unlock``, ``automate``,
  ``deautomate``, ``policy_set``, ``policy_unset``, ``release``, ``rollback``.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imagebot.operations.actions import (
        automate,
        deautomate,
        lock,
        policy_set,
        policy_unset,
        release,
        rollback,
        unlock,
    )
    from imagebot.operations.change import (
        Action,
        Edited,
        Outcome,
        PlanChanged,
        apply,
        default_user,
        edit_annotations,
        plan,
        refuse,
    )
    from imagebot.operations.explain import Explanation, TagInfo, ago, explain, status_text
    from imagebot.operations.workloads import (
        Target,
        WorkloadId,
        checkout,
        find_target,
        local_checkout,
        pick_containers,
        pick_repository,
        read_checkout,
        select_workload,
    )

#: Loaded on first use: ``imagebot --help`` and the read commands should not pay for Git,
#: the registry client and the update cycle when they only need workload names.
_HOME = {
    "Action": "imagebot.operations.change",
    "Edited": "imagebot.operations.change",
    "Outcome": "imagebot.operations.change",
    "PlanChanged": "imagebot.operations.change",
    "Target": "imagebot.operations.workloads",
    "WorkloadId": "imagebot.operations.workloads",
    "apply": "imagebot.operations.change",
    "automate": "imagebot.operations.actions",
    "checkout": "imagebot.operations.workloads",
    "deautomate": "imagebot.operations.actions",
    "default_user": "imagebot.operations.change",
    "edit_annotations": "imagebot.operations.change",
    "find_target": "imagebot.operations.workloads",
    "local_checkout": "imagebot.operations.workloads",
    "lock": "imagebot.operations.actions",
    "pick_containers": "imagebot.operations.workloads",
    "pick_repository": "imagebot.operations.workloads",
    "plan": "imagebot.operations.change",
    "policy_set": "imagebot.operations.actions",
    "policy_unset": "imagebot.operations.actions",
    "read_checkout": "imagebot.operations.workloads",
    "refuse": "imagebot.operations.change",
    "release": "imagebot.operations.actions",
    "rollback": "imagebot.operations.actions",
    "select_workload": "imagebot.operations.workloads",
    "unlock": "imagebot.operations.actions",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(_HOME[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Action",
    "Edited",
    "Explanation",
    "Outcome",
    "PlanChanged",
    "TagInfo",
    "Target",
    "WorkloadId",
    "ago",
    "apply",
    "automate",
    "checkout",
    "deautomate",
    "default_user",
    "edit_annotations",
    "explain",
    "find_target",
    "local_checkout",
    "lock",
    "pick_containers",
    "pick_repository",
    "plan",
    "policy_set",
    "policy_unset",
    "read_checkout",
    "refuse",
    "release",
    "rollback",
    "select_workload",
    "status_text",
    "unlock",
]
