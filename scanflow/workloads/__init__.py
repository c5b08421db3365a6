"""Workloads: each turns a validated `Config` into a `Problem` the dynamics can train."""

from scanflow.workloads.base import Problem
from scanflow.workloads.registry import build_problem, workload_module

__all__ = ["Problem", "build_problem", "workload_module"]
