"""Run the grading worker where a student's code can touch nothing else, and read what it sends, bounded.

With bubblewrap (``bwrap``, Linux) the worker is ``python -I -S -B`` in new PID, network, IPC and UTS
namespaces (a user namespace too when the teacher is not root), seeing only: the Python runtime (its
executable, standard library and shared libraries, without any site-packages), NumPy, the teacher's
framework with the blank bodies stubbed (``stubs.write_framework``), the worker's two files, this copy's
job (the requests, and the copy's files holding the blank functions) and task 11's training arrays, all
read-only; a private ``/tmp`` of bounded size; ``--die-with-parent``. As root the worker drops to an
unprivileged uid of its own before any student code runs: the kernel exempts root's processes (even
in a user namespace) from the process limit, so a fork bomb would not be bounded otherwise.

Everywhere the worker gets resource limits (CPU seconds, address space, file size, processes, open
files) set before any student code runs, and a wall clock per task after which its whole process
tree is killed. Without bwrap that is all (and a process that leaves its session survives):
``Sandbox.isolated`` is False and the reports say so in their first line.
"""
import os
import selectors
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from collections import deque
from dataclasses import dataclass

from tinygrad_lite.errors import TinygradLiteError

from .worker import FRAME_HEADER

INSIDE = "/grading"                     # where the sandbox sees what it is given
WORKER_FILES = ("worker.py", "graft.py")
OUTPUT_TAIL = 4000                      # bytes of the worker's stdout/stderr kept for the explanation
EXIT_GRACE = 1.0                        # seconds to wait for the reply pipe to close after the worker exits
SANDBOX_UID = 64000                     # as root: the worker of slot i runs as uid SANDBOX_UID + i
UID_SLOTS = 1000


@dataclass
class Limits:
    """The worker's resource limits (setrlimit, soft = hard)."""
    cpu_seconds: int = 600
    memory_bytes: int = 4 << 30          # address space: task 11's data and NumPy's with room to spare
    file_bytes: int = 64 << 20           # any file it writes (its /tmp)
    processes: int = 64                  # fork bombs stop here
    open_files: int = 256
    tmp_bytes: int = 256 << 20           # the private /tmp (bwrap only)


@dataclass
class Paths:
    """What the worker is given, on the teacher's side; the worker sees it under ``INSIDE``."""
    framework: str
    worker: str                          # a folder holding WORKER_FILES only
    lib: str                             # a folder holding (links to) numpy and numpy.libs only
    job: str
    copy: str
    data: str


def numpy_dirs():
    """The folders NumPy needs: its package and, for pip's wheels, the ``numpy.libs`` beside it."""
    import numpy
    package = os.path.dirname(os.path.realpath(numpy.__file__))
    libs = os.path.join(os.path.dirname(package), "numpy.libs")
    return [package] + ([libs] if os.path.isdir(libs) else [])


def make_lib(directory):
    """``directory`` with links to NumPy's folders: the only third-party package on the worker's path."""
    os.makedirs(directory, exist_ok=True)
    for source in numpy_dirs():
        link = os.path.join(directory, os.path.basename(source))
        if not os.path.lexists(link):
            os.symlink(source, link)
    return directory


def _interpreter():
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


def _runtime():
    """(files and folders of the Python runtime to bind read-only, site-packages folders to hide)."""
    paths = sysconfig.get_paths()
    binds = [_interpreter()] + [p for p in {paths["stdlib"], paths["platstdlib"]} if p and os.path.isdir(p)]
    libdir, library = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("INSTSONAME")
    if libdir and library and os.path.isfile(os.path.join(libdir, library)):
        binds.append(os.path.join(libdir, library))
    hide = {p for p in (paths.get("purelib"), paths.get("platlib")) if p and os.path.isdir(p)}
    hide.update(p for p in ("/usr/lib/python3/dist-packages",) if os.path.isdir(p))
    return [os.path.realpath(p) for p in binds], sorted(os.path.realpath(p) for p in hide)


SYSTEM_DIRS = ("/usr/lib", "/usr/lib64", "/usr/lib32", "/lib", "/lib64", "/lib32", "/etc/alternatives")
SYSTEM_FILES = ("/etc/ld.so.cache",)


def _under(path, folders):
    return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)


class _Mounts:
    """bwrap's mount arguments; every folder it creates on the way is world-readable (bwrap would give
    e.g. /root or /usr mode 0700, and the worker's own uid could not pass)."""

    def __init__(self):
        self.args, self.made, self.bound = [], {"/"}, []

    def _parents(self, path):
        chain, parent = [], os.path.dirname(path)
        while parent not in self.made and not _under(parent, self.bound):
            chain.append(parent)
            parent = os.path.dirname(parent)
        for folder in reversed(chain):
            self.args += ["--perms", "0755", "--dir", folder]
            self.made.add(folder)

    def bind(self, source, dest):
        if _under(dest, self.bound):
            return
        self._parents(dest)
        self.args += ["--ro-bind", source, dest]
        self.bound.append(dest)

    def link(self, target, dest):
        self._parents(dest)
        self.args += ["--symlink", target, dest]
        self.made.add(dest)


def bwrap_arguments(paths, limits, root):
    """bwrap's arguments up to (not including) the command."""
    args = ["--die-with-parent", "--new-session", "--clearenv"]
    if root:     # no user namespace: the worker setuid()s to its own uid, so the process limit holds
        args += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                 "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args += ["--unshare-all"]
    mounts = _Mounts()
    for path in SYSTEM_DIRS + SYSTEM_FILES:
        if os.path.islink(path):
            mounts.link(os.readlink(path), path)
        elif os.path.exists(path):
            mounts.bind(path, path)
    binds, hide = _runtime()
    for path in binds:
        mounts.bind(path, path)
    hidden = []
    for path in hide:
        if _under(path, mounts.bound):
            hidden += ["--tmpfs", path]
    for name in sorted(os.listdir(paths.lib)):
        mounts.bind(os.path.realpath(os.path.join(paths.lib, name)), f"{INSIDE}/lib/{name}")
    for name in ("framework", "worker", "job", "copy", "data"):
        mounts.bind(getattr(paths, name), f"{INSIDE}/{name}")
    args += ["--hostname", "grading"] + mounts.args + hidden
    args += ["--dev", "/dev", "--proc", "/proc", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",
             "--chdir", "/tmp"]
    for key, value in _environment("/tmp").items():
        args += ["--setenv", key, value]
    return args


def _environment(tmp):
    return {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "HOME": tmp, "TMPDIR": tmp, "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _own_tasks():
    """How many tasks (threads included) the teacher's uid runs now, on Linux; None elsewhere."""
    uid, count = os.getuid(), 0
    try:
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    if os.stat(f"/proc/{pid}").st_uid == uid:
                        count += len(os.listdir(f"/proc/{pid}/task"))
                except OSError:
                    continue
    except OSError:
        return None
    return count


def bootstrap(limits, paths, inside, uid, reply_fd, processes):
    """The ``python -c`` program: limits, (as root) an unprivileged uid, then ``worker.main``; all before
    any of the student's code is imported."""
    where = {name: (f"{INSIDE}/{name}" if inside else getattr(paths, name))
             for name in ("framework", "worker", "lib", "job", "copy", "data")}
    rlimits = [("RLIMIT_CPU", limits.cpu_seconds), ("RLIMIT_AS", limits.memory_bytes),
               ("RLIMIT_FSIZE", limits.file_bytes), ("RLIMIT_NOFILE", limits.open_files), ("RLIMIT_CORE", 0)]
    if processes is not None:
        rlimits.append(("RLIMIT_NPROC", processes))
    return "\n".join([
        "import os, sys, resource",
        f"for name, value in {rlimits!r}:",
        "    hard = resource.getrlimit(getattr(resource, name))[1]",
        "    value = value if hard == resource.RLIM_INFINITY else min(value, hard)",
        "    resource.setrlimit(getattr(resource, name), (value, value))",
        # without bwrap: die with the teacher's process (Linux); the check closes the race with its exit
        *([] if inside or not sys.platform.startswith("linux") else [
            "import ctypes", "ctypes.CDLL(None).prctl(1, 9)", "os.getppid() == 1 and os._exit(1)"]),
        *([] if uid is None else ["os.setgroups([])", f"os.setgid({uid})", f"os.setuid({uid})"]),
        f"sys.path[:0] = [{where['worker']!r}, {where['framework']!r}, {where['lib']!r}]",
        "import worker",
        f"worker.main({where['job']!r}, {where['framework']!r}, {where['copy']!r}, {where['data']!r}, {reply_fd})",
    ])


class SandboxUnavailable(TinygradLiteError, RuntimeError):
    """``--require-sandbox`` where bubblewrap cannot isolate the copies."""


class Sandbox:
    """How this machine runs workers: ``isolated`` (bwrap works) or limits only, and why."""

    def __init__(self, isolated, reason):
        self.isolated, self.reason = isolated, reason
        self.root = hasattr(os, "geteuid") and os.geteuid() == 0

    @property
    def line(self):
        """The first line of every report."""
        if self.isolated:
            return ("Copies were graded in bubblewrap sandboxes: each student's code saw only the Python runtime, "
                    "NumPy, the course's framework and its own job, with no network and resource limits.")
        return (f"WARNING: copies were NOT isolated ({self.reason}): each student's code ran with resource "
                f"limits only and could read and write what the grading user can.")

    def command(self, paths, limits, slot, reply_fd):
        """(argv, env, cwd) of a worker for ``paths`` in ``slot`` (0, 1, ...: concurrent workers differ)."""
        python = [_interpreter(), "-I", "-S", "-B", "-c"]
        if self.isolated:
            uid = SANDBOX_UID + slot % UID_SLOTS if self.root else None
            processes = limits.processes if self.root else _add(_own_tasks(), limits.processes)
            program = bootstrap(limits, paths, True, uid, reply_fd, processes)
            return ["bwrap"] + bwrap_arguments(paths, limits, self.root) + python + [program], {}, "/"
        processes = None if self.root else _add(_own_tasks(), limits.processes)
        program = bootstrap(limits, paths, False, None, reply_fd, processes)
        return python + [program], _environment(paths.job), paths.job


def _add(count, extra):
    return None if count is None else count + extra


_PROBED = {}


def detect(require=False):
    """The ``Sandbox`` this machine offers: bwrap if installed and able to start Python with NumPy here
    (a container without user namespaces cannot), else limits only. ``require``: no bwrap is an error."""
    if "sandbox" not in _PROBED:
        _PROBED["sandbox"] = _probe()
    sandbox = _PROBED["sandbox"]
    if require and not sandbox.isolated:
        raise SandboxUnavailable(f"--require-sandbox: the copies cannot be isolated here: {sandbox.reason}")
    return sandbox


def _probe():
    if not sys.platform.startswith("linux"):
        return Sandbox(False, f"bubblewrap needs Linux; this is {sys.platform}")
    if shutil.which("bwrap") is None:
        return Sandbox(False, "bubblewrap (bwrap) is not installed: apt-get install bubblewrap")
    import tempfile
    with tempfile.TemporaryDirectory(prefix="tinygrad-lite-probe-") as folder:
        os.chmod(folder, 0o755)
        lib = make_lib(os.path.join(folder, "lib"))
        empty = os.path.join(folder, "empty")
        os.makedirs(empty)
        paths = Paths(empty, empty, lib, empty, empty, empty)
        sandbox = Sandbox(True, "")
        drop = f"os.setgroups([]); os.setgid({SANDBOX_UID}); os.setuid({SANDBOX_UID}); " if sandbox.root else ""
        argv = ["bwrap"] + bwrap_arguments(paths, Limits(), sandbox.root) + [           # as the worker starts
            _interpreter(), "-I", "-S", "-B", "-c",
            f"import os, sys; {drop}sys.path[:0] = ['{INSIDE}/lib']; import numpy; numpy.ones(2).sum()"]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as error:
            return Sandbox(False, f"bwrap could not start: {error}")
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        return Sandbox(False, f"bwrap does not work here ({said[-1] if said else f'exit code {done.returncode}'})")
    return sandbox


class Worker:
    """A started worker: its reply frames, read with a bound, and its output's tail; ``stop`` kills its
    whole process tree."""

    def __init__(self, sandbox, paths, limits, slot, max_frame):
        reply_read, reply_write = os.pipe()
        argv, env, cwd = sandbox.command(paths, limits, slot, reply_write)
        self.max_frame, self.buffer, self.tail, self.output_bytes = max_frame, bytearray(), deque(), 0
        try:
            self.process = subprocess.Popen(argv, env=env or None, cwd=cwd, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=(reply_write,),
                                            start_new_session=True)
        except BaseException:
            os.close(reply_read)
            raise
        finally:
            os.close(reply_write)
        self.reply, self.output = reply_read, self.process.stdout.fileno()
        self.selector = selectors.DefaultSelector()
        for fd in (self.reply, self.output):
            os.set_blocking(fd, False)
            self.selector.register(fd, selectors.EVENT_READ)
        self.open = {self.reply, self.output}
        self.exited_at = None

    def next_frame(self, deadline):
        """("frame", bytes), ("timeout", None), ("exit", None) or ("bad", why)."""
        while True:
            frame = self._take_frame()
            if frame is not None:
                return frame
            now = time.monotonic()
            if now >= deadline:
                return "timeout", None
            if self.exited_at is None and self.process.poll() is not None:
                self.exited_at = now
            if self.reply not in self.open or (self.exited_at is not None and now - self.exited_at > EXIT_GRACE):
                return ("bad", "its reply ended in the middle of a frame") if self.buffer else ("exit", None)
            for key, _ in self.selector.select(timeout=min(deadline - now, 0.2)):
                self._read(key.fd)

    def _take_frame(self):
        if len(self.buffer) < FRAME_HEADER.size:
            return None
        length, = FRAME_HEADER.unpack_from(self.buffer)
        if length > self.max_frame:
            return "bad", f"it sent a reply of {length} bytes, more than the {self.max_frame} allowed"
        if len(self.buffer) < FRAME_HEADER.size + length:
            return None
        frame = bytes(self.buffer[FRAME_HEADER.size:FRAME_HEADER.size + length])
        del self.buffer[:FRAME_HEADER.size + length]
        return "frame", frame

    def _read(self, fd):
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        if not chunk:
            self.selector.unregister(fd)
            self.open.discard(fd)
        elif fd == self.reply:
            self.buffer += chunk
        else:                       # stdout and stderr: only the tail is kept, however much comes
            self.output_bytes += len(chunk)
            self.tail.append(chunk)
            while sum(map(len, self.tail)) - len(self.tail[0]) > OUTPUT_TAIL:
                self.tail.popleft()

    def output_text(self):
        text = b"".join(self.tail)[-OUTPUT_TAIL:].decode("utf-8", errors="replace")
        if self.output_bytes <= OUTPUT_TAIL:
            return text
        return f"[... {self.output_bytes} bytes in all; the last:]\n{text}"

    def describe_exit(self):
        try:
            code = self.process.wait(timeout=EXIT_GRACE)
        except subprocess.TimeoutExpired:
            code = None
        if code is None:
            return "it stopped answering"
        if code < 0 or code > 128:          # bwrap reports its child's death by signal N as 128 + N
            number = -code if code < 0 else code - 128
            name = signal.Signals(number).name if number in signal.valid_signals() else str(number)
            why = {"SIGKILL": " (memory or CPU limit, or killed)", "SIGXCPU": " (CPU time limit)",
                   "SIGSEGV": " (a crash)", "SIGXFSZ": " (file size limit)"}.get(name, "")
            return f"it was killed by {name}{why}" + (f" (exit code {code})" if code > 0 else "")
        return f"it exited with code {code}"

    def stop(self):
        """Kill the worker's process group (in bwrap, its whole PID namespace goes with it)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        self.selector.close()
        os.close(self.reply)
        self.process.stdout.close()
