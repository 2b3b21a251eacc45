"""The rule language: YAML files and one Lark grammar, compiled into the executable graph.

    from relance.dsl import compile_workspace
    workspace = compile_workspace(["rules.example.yaml"], functions)
"""
from __future__ import annotations

from .compiler import check_workspace, compile_workspace
from .errors import Problem, RelanceError, RuleError
from .expressions import Scope
from .functions import Function, FunctionRegistry

__all__ = ["Function", "FunctionRegistry", "Problem", "RelanceError", "RuleError", "Scope",
           "check_workspace", "compile_workspace"]
