"""``tinygrad-lite exercise {list,make,check,grade}``: the arguments and what each does."""
import json
import sys
from pathlib import Path

from tinygrad_lite.files import write_text

from .course import BY_NUMBER, COURSE, parse_tasks


def add_arguments(parser, int_at_least):
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="the course: every task, what it blanks and teaches")
    make = actions.add_parser("make", help="write a student copy with the chosen tasks blanked")
    make.add_argument("directory", metavar="DIR", help="a new (or empty) folder for the copy")
    make.add_argument("--tasks", default="all", help="which tasks to blank: 1-5, 2,4,7-9, all (default), none")
    check = actions.add_parser("check", help="check your work on one task (or all), without torch")
    check.add_argument("task", nargs="?", type=int, choices=sorted(BY_NUMBER), metavar="TASK",
                       help="the task to explain (default: the first not done)")
    for sub in (check, grade := actions.add_parser("grade", help="grade student copies: Markdown and CSV")):
        sub.add_argument("--subset", type=int_at_least(1),
                         help="task 11: train on N images (a short run with a lower bar)")
        sub.add_argument("--epochs", type=int_at_least(1), help="task 11: this many epochs (a short run)")
    check.add_argument("--json", action="store_true", help="print every task's outcome as JSON (for grade)")
    grade.add_argument("directories", nargs="+", metavar="DIR", help="student copies")
    grade.add_argument("--csv", metavar="FILE", help="also write the table as CSV")
    grade.add_argument("--markdown", metavar="FILE", help="also write the Markdown table to FILE")


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
        print(f"{task.number:>2}. {task.title}{after}\n    teaches: {task.teaches}")
        for target in task.blanks or ("(blanks nothing: trains your engine on the real data)",):
            print(f"    blanks:  {target}")
    return 0


def cmd_make(args):
    from .stubs import make
    tasks = parse_tasks(args.tasks)
    make(args.directory, tasks)
    print(f"wrote a student copy to {args.directory} with task(s) {', '.join(map(str, tasks)) or 'none'} blank.\n"
          f"Students: cd {args.directory} && python -m experiments exercise check")
    return 0


def cmd_check(args):
    from .checks import Options, run_task, summary_table
    options = Options(subset=args.subset, epochs=args.epochs)
    numbers = [t.number for t in COURSE]
    if args.task is not None:
        numbers = [args.task] if args.json else [n for n in numbers if n != 11 or args.task == 11]
    outcomes = {n: run_task(n, options) for n in numbers}
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
    from .grade import as_csv, as_markdown, grade
    missing = [d for d in args.directories if not Path(d).is_dir()]
    if missing:
        raise ValueError(f"exercise grade: {missing[0]!r} is not a folder")
    rows = grade(args.directories, args.subset, args.epochs)
    markdown = as_markdown(rows)
    sys.stdout.write(markdown)
    if args.markdown:
        write_text(args.markdown, markdown)
    if args.csv:
        write_text(args.csv, as_csv(rows))
    return 0
