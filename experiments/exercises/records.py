"""The teacher's record of each course: which tasks ``exercise make`` blanked, their points, the students.

Grading believes this record, never the copy's own ``exercise.json``: a student who edits theirs to
say fewer tasks were blank, or to name a classmate, changes nothing. The copy's file only names its
course and carries the student's id with a secret token recorded here at ``make`` time; a row is
named by that id only when the token matches, else by the copy's folder name.

Records live in ``--records DIR``, else ``$TINYGRAD_LITE_COURSES``, else
``$XDG_DATA_HOME/tinygrad_lite/courses`` (``~/.local/share/tinygrad_lite/courses``): one
``<course>.json`` each, written atomically.
"""
import hmac
import os
import re
from pathlib import Path

from tinygrad_lite.files import read_json, write_json

from .course import BY_NUMBER

ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MAX_RECORD_BYTES = 4 * 1024 * 1024


def check_id(argument, value):
    """A course or student id: letters, digits and ._@- (it names files and rows), at most 64."""
    if not isinstance(value, str) or not ID.fullmatch(value):
        raise ValueError(f"{argument}: expected letters, digits and . _ @ - (at most 64, starting with a letter "
                         f"or digit), got {value!r}")
    return value


def records_dir(explicit=None):
    if explicit:
        return Path(explicit)
    if os.environ.get("TINYGRAD_LITE_COURSES"):
        return Path(os.environ["TINYGRAD_LITE_COURSES"])
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "tinygrad_lite" / "courses"


def _path(directory, course):
    return Path(directory) / f"{check_id('--course', course)}.json"


def load(directory, course):
    """The record of ``course``, or ``ValueError`` saying it was never made here (or is damaged)."""
    path = _path(directory, course)
    if not path.is_file():
        raise ValueError(f"no record of course {course!r} in {directory}: grade with the --course that "
                         f"`exercise make` printed (and its --records, if one was given)")
    if path.stat().st_size > MAX_RECORD_BYTES:
        raise ValueError(f"{path}: larger than {MAX_RECORD_BYTES} bytes; not a course record")
    try:
        record = read_json(path, max_bytes=MAX_RECORD_BYTES)
        blank = [int(n) for n in record["blank"]]
        points = {int(n): int(p) for n, p in record["points"].items()}
        students = {check_id("student", s): str(t) for s, t in record["students"].items()}
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        raise ValueError(f"{path}: not a readable course record ({type(error).__name__}: {error})") from None
    if any(n not in BY_NUMBER for n in blank) or set(points) != set(blank):
        raise ValueError(f"{path}: its tasks {blank} do not fit this course's 1-{len(BY_NUMBER)}")
    return {"course": course, "blank": sorted(blank), "points": points, "students": students}


def record(directory, course, tasks, student=None, token=None):
    """Add a made copy to ``course``'s record (created on its first copy; later copies must blank the
    same tasks). Returns the record."""
    path = _path(directory, course)
    if path.exists():
        existing = load(directory, course)
        if existing["blank"] != sorted(tasks):
            raise ValueError(f"course {course!r} was made with task(s) {existing['blank']}; this copy would blank "
                             f"{sorted(tasks)}: use another --course for another set of tasks")
    else:
        existing = {"course": course, "blank": sorted(tasks),
                    "points": {n: BY_NUMBER[n].points for n in tasks}, "students": {}}
    if student is not None:
        existing["students"][student] = token
    write_json(path, {"course": course, "blank": existing["blank"],
                      "points": {str(n): p for n, p in existing["points"].items()},
                      "students": existing["students"]})
    return existing


def student_of(record, state):
    """The student id a copy's ``exercise.json`` (``state``, untrusted) proves by its token, or None."""
    if not isinstance(state, dict):
        return None
    student, token = state.get("student"), state.get("token")
    expected = record["students"].get(student) if isinstance(student, str) else None
    if expected and isinstance(token, str) and hmac.compare_digest(expected.encode(), token.encode()):
        return student
    return None
