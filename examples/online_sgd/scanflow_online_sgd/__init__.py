"""scanflow-online-sgd: a stochastic workload and seed-averaged checks plugged into scanflow from outside.

``scanflow_online_sgd.workload:WORKLOAD`` is the workload ``online_sgd`` (entry-point group
``scanflow.workloads``); importing ``scanflow_online_sgd.checks`` registers the checks of paper
``online-sgd`` (group ``scanflow.papers``) and its mutation.
"""
