"""Speed and memory of tinygrad_lite against PyTorch, measured in the same run: ``python -m benchmarks``.

    cases.py       the workloads (MLP and CNN epochs, conv layers, pooling, autograd overhead, matmul),
                   each written once against the interface in frameworks.py and run for both
    frameworks.py  tinygrad_lite ("scratch") and torch behind that one small interface
    harness.py     timing: warm-up, alternating runs (ABAB), device sync, median/min/max, ratios;
                   peak-memory child processes; cProfile of the scratch side
    memory.py      the child process that measures one framework's peak memory
    report.py      Markdown table, JSON and PNG chart (written atomically)

Nothing here is imported by the framework itself; torch is needed only to run the benchmarks.
"""
