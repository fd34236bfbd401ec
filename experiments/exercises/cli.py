"""``tinygrad-lite exercise {list,make,check,grade}``: the arguments and what each does."""
import json
from pathlib import Path

from tinygrad_lite.files import read_json

from .course import BY_NUMBER, COURSE, parse_tasks


def add_arguments(parser, int_at_least, cluster_arguments):
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="the course: every task, what it blanks and teaches")
    make = actions.add_parser("make", help="write a student copy with the chosen tasks blanked")
    make.add_argument("directory", metavar="DIR", help="a new (or empty) folder for the copy")
    make.add_argument("--tasks", default="all", help="which tasks to blank: 1-5, 2,4,7-9, all (default), none")
    make.add_argument("--course", help="the course's id (default: a new one, printed); grading names it")
    make.add_argument("--students", help="ids, comma-separated: one copy each, DIR/<id>, carrying its id")
    check = actions.add_parser("check", help="check your work on one task (or all), without torch")
    check.add_argument("task", nargs="?", type=int, choices=sorted(BY_NUMBER), metavar="TASK",
                       help="the task to explain (default: the first not done)")
    check.add_argument("--json", action="store_true", help="print every task's outcome as JSON")
    grade = actions.add_parser("grade", help="grade student copies in sandboxes: tables, feedback, gradebook")
    for sub in (check, grade):
        sub.add_argument("--subset", type=int_at_least(1),
                         help="task 11: train on N images (a short run with a lower bar)")
        sub.add_argument("--epochs", type=int_at_least(1), help="task 11: this many epochs (a short run)")
        sub.add_argument("--seed", type=int_at_least(0), help="the checks' inputs (check: 0; grade: drawn, reported)")
    for sub in (make, grade):
        sub.add_argument("--records", metavar="DIR", help="where the course records are kept (default: "
                         "$TINYGRAD_LITE_COURSES, else ~/.local/share/tinygrad_lite/courses)")
    grade.add_argument("directories", nargs="+", metavar="DIR", help="student copies")
    grade.add_argument("--course", required=True, help="the course id `exercise make` printed: its record "
                       "says which tasks count and their points")
    grade.add_argument("--out", default="grades", metavar="DIR",
                       help="where the rows and reports go (default: grades/)")
    cluster_arguments(grade, "copies graded at once, on a local Dask cluster (default: the cores where Dask is "
                             "installed, else 1); --jobs 1 grades here, one at a time")
    grade.add_argument("--timeout", type=int_at_least(1), metavar="SECONDS",
                       help="per copy, shared among its tasks (default: sized from the tasks, minutes)")
    grade.add_argument("--resume", action="store_true", help="keep the rows already in --out, grade the rest")
    grade.add_argument("--require-sandbox", action="store_true",
                       help="refuse to grade where bubblewrap cannot isolate the copies")
    grade.add_argument("--allow-sample", action="store_true",
                       help="task 11 may train on the bundled sample when MNIST is missing (a trial run)")


def run(args):
    if args.action == "list":
        return cmd_list()
    if args.action == "make":
        return cmd_make(args)
    if args.action == "check":
        return cmd_check(args)
    return cmd_grade(args)


def cmd_list():
    for task in COURSE:
        after = f"  (after task {', '.join(map(str, task.depends))})" if task.depends else ""
        points = f"  [{task.points} point{'s' if task.points != 1 else ''}]"
        print(f"{task.number:>2}. {task.title}{after}{points}\n    teaches: {task.teaches}")
        for target in task.blanks:
            print(f"    blanks:  {target}")
    return 0


def cmd_make(args):
    from . import records
    from .stubs import make
    tasks = parse_tasks(args.tasks)
    folder = records.records_dir(args.records)
    students = [s.strip() for s in args.students.split(",") if s.strip()] if args.students else [None]
    for student in students:
        if student is not None:
            records.check_id("--students", student)
    course = args.course
    for student in students:
        directory = Path(args.directory) / student if student else Path(args.directory)
        made = make(directory, tasks, course=course, student=student, records_dir=folder)
        course = read_json(made / "exercise.json")["course"]
        print(f"wrote {directory}" + (f" for {student}" if student else ""))
    print(f"course {course}: task(s) {', '.join(map(str, tasks)) or 'none'} blank (recorded in {folder}).\n"
          f"Students: cd into the copy && python -m experiments exercise check\n"
          f"Teacher:  tinygrad-lite exercise grade --course {course} COPIES...")
    return 0


def cmd_check(args):
    from .checks import Options, run_task, summary_table
    from .stubs import PROJECT, STATE_FILE
    state = PROJECT / STATE_FILE
    if not state.is_file():
        here = Path.cwd() / STATE_FILE
        print(f"exercise check: not in an exercise copy: {PROJECT} has no {STATE_FILE}."
              + (f"\nThis folder is a copy, but the command runs the installation at {PROJECT}: run "
                 f"`python -m experiments exercise check` here (or `pip install -e .` in the copy)."
                 if here.is_file() else "\nMake one with `tinygrad-lite exercise make DIR`, then check inside it."))
        return 2
    try:
        blank = read_json(state)["blank"]
        targets = [t for n in blank for t in BY_NUMBER[int(n)].blanks]
    except (ValueError, KeyError, TypeError):
        targets = None
    options = Options(subset=args.subset, epochs=args.epochs, seed=args.seed or 0)
    numbers = [t.number for t in COURSE]
    if args.task is not None:
        numbers = [args.task] if args.json else [n for n in numbers if n != 11 or args.task == 11]
    outcomes = {n: run_task(n, options, targets) for n in numbers}
    if args.json:
        print(json.dumps({n: o.as_dict() for n, o in outcomes.items()}))
        return 0
    chosen = args.task if args.task is not None else next((n for n in numbers if not outcomes[n].passed), None)
    if chosen is not None:
        outcome, task = outcomes[chosen], BY_NUMBER[chosen]
        print(f"Task {chosen}: {task.title} - {'done' if outcome.passed else 'not yet'}")
        print(outcome.details)
        print()
    print(summary_table(outcomes))
    if 11 not in outcomes:
        print("(task 11 trains the network: run `exercise check 11` for it)")
    return 0 if all(o.passed for o in outcomes.values()) else 1


def cmd_grade(args):
    from . import records
    from .checks import Options
    from .grade import grade_class
    missing = [d for d in args.directories if not Path(d).is_dir()]
    if missing:
        raise ValueError(f"exercise grade: {missing[0]!r} is not a folder")
    course = records.load(records.records_dir(args.records), args.course)
    options = Options(args.subset, args.epochs, allow_sample=args.allow_sample, grading=True)
    rows, interrupted = grade_class(args.directories, course, args.out, options, jobs=args.jobs,
                                    timeout=args.timeout, seed=args.seed, resume=args.resume,
                                    require_sandbox=args.require_sandbox, scheduler=args.scheduler)
    print(f"\n{len(rows)} row(s); tables, gradebook.csv, feedback/ and gradescope/ in {args.out}")
    print((Path(args.out) / "grades.md").read_text())
    return 130 if interrupted else 0
