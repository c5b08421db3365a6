"""scanflow-linear-net: a workload and checks plugged into scanflow from outside.

``scanflow_linear_net.workload:WORKLOAD`` is the `scanflow.engine.workload.Workload` (entry point
``linear_net`` in the group ``scanflow.workloads``); importing ``scanflow_linear_net.checks``
registers the checks of paper ``linear-net`` (group ``scanflow.papers``).
"""
