"""Speed and memory of tinygrad_lite against PyTorch and the peers, measured in the same run:
``python -m benchmarks``.

    cases.py       the workloads (MLP and CNN epochs, conv layers, pooling, a course's other ops,
                   autograd overhead, matmul), each written once against the interface
    interface.py   the calls every framework offers (and NotAvailable, for an op one lacks)
    frameworks.py  tinygrad_lite ("scratch") and torch behind that interface; ``make`` by name
    peers.py       DeZero and tinygrad behind it (optional: pip install 'tinygrad_lite[peers]')
    harness.py     timing: warm-up, alternating runs (ABCD), device sync, median/min/max, ratios;
                   peak-memory child processes; cProfile of the scratch side
    memory.py      the child process that measures one framework's peak memory
    report.py      Markdown tables, JSON and PNG chart (written atomically)

Nothing here is imported by the framework itself; torch is needed only to run the benchmarks.
"""
