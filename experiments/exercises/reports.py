"""What grading writes: the class tables, a gradebook for the LMS, feedback and Gradescope results per student.

Every file comes from the rows (``grade``), written atomically by the teacher's process into ``--out``:

* ``grades.md`` and ``grades.csv``: a row per copy, a column per blank task (``pass`` or ``fail: the
  first failing check``), the score, and for task 11 the data it trained on;
* ``gradebook.csv``: ``student,score,max_score``, what an LMS gradebook imports;
* ``feedback/<student>.txt``: each task explained as ``exercise check`` does;
* ``gradescope/<student>/results.json``: Gradescope's autograder format
  (https://gradescope-autograders.readthedocs.io/en/latest/specs/).

Text from a student's code (an exception's message) is escaped for Markdown and HTML, and a CSV cell
that a spreadsheet would run as a formula is quoted. The first line of every report says whether the
copies were isolated.
"""
import csv
import hashlib
import io
import re
from pathlib import Path

from tinygrad_lite.files import write_json, write_text

from .course import BY_NUMBER

_SAFE = re.compile(r"[^A-Za-z0-9._@-]")
_MARKDOWN = re.compile(r"([\\`*_\[\]|~])")       # what can format, link or split a cell mid-line
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def row_key(name):
    """A file name for a student's row and reports: the name itself when it is plain, else a safe form
    with a digest (two names never share one)."""
    safe = _SAFE.sub("_", name)[:80]
    return safe if safe == name else f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def markdown_cell(text):
    """``text`` as one Markdown table cell: nothing in it formats, links, breaks the row or runs as HTML."""
    text = _CONTROL.sub(" ", str(text))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN.sub(r"\\\1", text)


def csv_cell(value):
    """A CSV cell a spreadsheet shows as text, never runs (=, +, -, @ start a formula)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = _CONTROL.sub(" ", str(value))
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _cell(task):
    if task is None:
        return "-"
    return "pass" if task["passed"] else f"fail: {task['check']}"


def header(rows, settings):
    """The lines above every report: isolation first, then how to reproduce the grades."""
    blank = settings.course["blank"]
    lines = [settings.sandbox_line,
             f"Course {settings.course['course']}: task(s) {', '.join(map(str, blank))} "
             f"({sum(settings.course['points'][n] for n in blank)} point(s)); seed {settings.seed} "
             f"(`exercise grade --course {settings.course['course']} --seed {settings.seed}` draws the same inputs)."]
    if settings.data:
        lines.append(f"Task 11 trained on: {settings.data}.")
    return lines


def _columns(settings):
    blank = settings.course["blank"]
    return blank, ["student"] + [f"task {n}" for n in blank] + ["score", "max score"] + (
        ["task 11 data"] if 11 in blank else [])


def _values(row, blank):
    tasks = row["tasks"]
    return [row["student"]] + [_cell(tasks.get(str(n))) for n in blank] + [row["score"], row["max_score"]] + (
        [row.get("data") or ""] if 11 in blank else [])


def as_markdown(rows, settings):
    blank, columns = _columns(settings)
    lines = [f"> {line}" for line in header(rows, settings)] + [""]      # the teacher's own text
    lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(markdown_cell(v) for v in _values(row, blank)) + " |")
    return "\n".join(lines) + "\n"


def as_csv(rows, settings):
    blank, columns = _columns(settings)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([f"# {line}" for line in header(rows, settings)[:1]])
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(v) for v in _values(row, blank)])
    return out.getvalue()


def gradebook(rows):
    """``student,score,max_score``: one line per copy, for an LMS import."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student", "score", "max_score"])
    for row in rows:
        writer.writerow([csv_cell(row["student"]), row["score"], row["max_score"]])
    return out.getvalue()


def feedback(row, settings):
    """One student's feedback: each blank task, done or not, the failure explained."""
    lines = header([row], settings) + [f"{row['student']}: {row['score']} of {row['max_score']} point(s)."] + \
        [f"Note: {note}" for note in row["notes"]] + [""]
    for n in settings.course["blank"]:
        task = row["tasks"][str(n)]
        lines.append(f"Task {n}: {BY_NUMBER[n].title} - {'done' if task['passed'] else 'not yet'} "
                     f"({task['points']}/{task['max_points']})")
        lines += [task["details"], ""]
    return _CONTROL.sub(lambda m: m.group() if m.group() == "\n" else " ", "\n".join(lines)) + "\n"


def gradescope(row, settings):
    """Gradescope's ``results.json`` for one student: a test per blank task."""
    tests = []
    for n in settings.course["blank"]:
        task = row["tasks"][str(n)]
        tests.append({"score": float(task["points"]), "max_score": float(task["max_points"]),
                      "status": "passed" if task["passed"] else "failed", "name": f"Task {n}: {BY_NUMBER[n].title}",
                      "number": str(n), "output": task["details"], "output_format": "text",
                      "tags": [f"task-{n}"], "visibility": "visible",
                      "extra_data": {"check": task["check"], "seconds": task["seconds"]}})
    return {"score": float(row["score"]), "execution_time": int(round(row["seconds"] or 0)),
            "output": "\n".join(header([row], settings) + row["notes"]), "output_format": "text",
            "visibility": "visible", "stdout_visibility": "hidden",
            "extra_data": {"course": row["course"], "seed": row["seed"], "copy": row["copy"],
                           "isolated": row["isolated"]},
            "tests": tests}


def write_all(out, rows, settings):
    """Every report of ``rows`` into ``out``; returns the Markdown table."""
    out = Path(out)
    markdown = as_markdown(rows, settings)
    write_text(out / "grades.md", markdown)
    write_text(out / "grades.csv", as_csv(rows, settings))
    write_text(out / "gradebook.csv", gradebook(rows))
    for row in rows:
        key = row_key(row["student"])
        write_text(out / "feedback" / f"{key}.txt", feedback(row, settings))
        write_json(out / "gradescope" / key / "results.json", gradescope(row, settings))
    return markdown
