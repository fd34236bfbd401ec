"""Grade student copies: one row per copy, one column per task, pass/fail and the first failing check.

Each copy is checked by its own code (``python -m experiments exercise check --json`` run inside it, one
process per copy), so a student's engine never mixes with the teacher's.
"""
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from .course import COURSE


def check_copy(directory, subset=None, epochs=None, timeout=3600):
    """{task: outcome dict} from running the checks inside ``directory``; a copy that cannot run at
    all gives every task a failure saying why."""
    directory = Path(directory).resolve()
    command = [sys.executable, "-m", "experiments", "exercise", "check", "--json"]
    command += [] if subset is None else ["--subset", str(subset)]
    command += [] if epochs is None else ["--epochs", str(epochs)]
    env = dict(os.environ, PYTHONPATH=str(directory))
    try:
        done = subprocess.run(command, cwd=directory, env=env, capture_output=True, text=True, timeout=timeout)
        results = json.loads(done.stdout.strip().splitlines()[-1])
        return {int(k): v for k, v in results.items()}
    except (subprocess.TimeoutExpired, json.JSONDecodeError, IndexError, OSError) as error:
        why = f"the checks did not run: {type(error).__name__}"
        return {t.number: {"task": t.number, "passed": False, "check": why, "details": ""} for t in COURSE}


def grade(directories, subset=None, epochs=None):
    """[(directory, {task: outcome dict})] for every copy."""
    return [(str(d), check_copy(d, subset, epochs)) for d in directories]


def _cell(outcome):
    return "pass" if outcome["passed"] else f"fail: {outcome['check']}"


def as_markdown(rows):
    header = "| copy | " + " | ".join(f"task {t.number}" for t in COURSE) + " | done |"
    lines = [header, "|" + "---|" * (len(COURSE) + 2)]
    for directory, outcomes in rows:
        cells = [_cell(outcomes[t.number]).replace("|", "/") for t in COURSE]
        done = sum(outcomes[t.number]["passed"] for t in COURSE)
        lines.append(f"| {directory} | " + " | ".join(cells) + f" | {done}/{len(COURSE)} |")
    return "\n".join(lines) + "\n"


def as_csv(rows):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["copy"] + [f"task {t.number}" for t in COURSE] + ["done"])
    for directory, outcomes in rows:
        writer.writerow([directory] + [_cell(outcomes[t.number]) for t in COURSE]
                        + [sum(outcomes[t.number]["passed"] for t in COURSE)])
    return out.getvalue()
