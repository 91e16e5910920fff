"""Where a student's answer runs: a separate `python -I` process behind a wall the operating
system enforces, an allow-list. Everything here is the wall; the rest of the grader calls
`run` and `isolation`.

    run(files, argv, timeout, memory_mb) -> Finished(status, stdout, stderr, result)
    isolation() -> the level in force, one line ("os: ..." or "guard: ...")

What the answer's process gets, on Linux with Landlock (kernel >= 5.13) on x86-64 -- the level
"os", applied by this file run as a launcher (`python -I -S sandbox.py --launch CONFIG`)
between fork and exec:
- A fresh scratch folder (the only place it may write), holding the files it is given: its
  answer, the runner (child.py) and copies of the library modules it may import, with the
  functions under exercise removed from the copies (the caller makes them). With user
  namespaces the folder is a private tmpfs of SCRATCH_MB (a full disk is not its to make).
- Read-only: the Python runtime and its standard library, the installed packages
  (site-packages), the system's shared libraries and /dev/null. Nothing else of the file
  system can be opened or listed (Landlock): not the checkout, its .git, exercises/, other
  students, other copies of the project, /tmp, /proc. It may execute only the Python binary.
- With unprivileged user namespaces: new user, PID, network, IPC and mount namespaces. No other
  process exists for it (it cannot signal, trace, renice or prlimit one), no network (not even
  loopback) and no abstract Unix sockets of anyone else.
- Always: a seccomp filter refusing (EPERM) what namespaces would otherwise have to cover:
  sockets, fork (threads are allowed), ptrace, process_vm_*, signals, prlimit, setpriority,
  sched_set* and ioprio_set aimed at any process but itself, mount, unshare, setns, keyrings,
  bpf, io_uring, perf events, System V and POSIX IPC, inotify and fanotify. Landlock refuses
  TCP bind/connect (ABI >= 4), signals and abstract sockets outside (ABI >= 6). no_new_privs,
  no capabilities, nice 10, a new session, and limits on address space, CPU time, file size,
  open files and core dumps.
Stat of a path outside (existence, size, times) is not hidden by Landlock: the contents are.
Without user namespaces the scratch folder is on disk, bounded per file (FILE_MB), not in all.

Why this way: Landlock is the kernel's allow-list for unprivileged processes, and with
no_new_privs and a seccomp filter it needs neither root nor a setuid helper, so a student's
laptop gets the same wall as CI; a few lines of stdlib ctypes make the calls (the PyPI binding
is a development release; bubblewrap is a separate binary most machines lack, and needs user
namespaces anyway). Namespaces are added where they work, for what Landlock cannot express.

Where Landlock or the seccomp filter is missing (macOS, Windows, old kernels, another CPU), the
level is "guard": only the in-process guard of child.py (audit hooks), which a determined answer
can get around. Every verdict and report says which level was in force.

Whatever the answer sends back is read within budgets (PRINT_BYTES, RESULT_BYTES): past them
it is stopped and `Finished.over` says what it sent; the caller turns that into its verdict.
"""
import functools
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PRINT_BYTES = 4 * 2**20       # stdout and stderr, each: read at most this much
RESULT_BYTES = 64 * 2**20     # the result the answer's process writes to its result pipe
SCRATCH_MB = 64               # the scratch tmpfs (with namespaces)
OPEN_FILES, FILE_MB = 256, 64


class Finished:
    """What came back from one run: exit `status` (negative: killed by that signal), the first
    PRINT_BYTES of stdout/stderr, the result bytes, `over` (None, or what exceeded a budget:
    'stdout', 'stderr', 'result'), `timed_out`, `sent` (bytes read from each stream) and
    `failure`: why the wall could not be built ('' if it was; the launcher says so on a pipe
    that its exec closes, so no answer can claim it)."""

    def __init__(self, status, stdout, stderr, result, over, timed_out, sent, failure=""):
        self.status, self.stdout, self.stderr, self.result = status, stdout, stderr, result
        self.over, self.timed_out, self.sent, self.failure = over, timed_out, sent, failure


class SandboxError(RuntimeError):
    """The wall could not be built (a checker failure, never the student's)."""


# --- the parent's side ------------------------------------------------------------------------

def run(files, argv, timeout, memory_mb, level=None):
    """Run `argv` (argv[0] is replaced by this Python; the result pipe's descriptor is added
    as the last argument) in a fresh scratch folder holding `files` {relative name: bytes},
    behind the wall of `level` (default: isolation()). -> Finished. The answer is killed if
    the thread that called run ends first (PR_SET_PDEATHSIG)."""
    level = level or isolation()
    scratch = tempfile.mkdtemp(prefix="answer-")
    try:
        return run_in(scratch, files, argv, timeout, memory_mb, level)
    finally:
        remove(scratch)


def remove(folder):
    """Remove the scratch folder whatever the answer left there (a tree too deep for
    shutil.rmtree's recursion, say), never raising: leftovers are not the checker's failure."""
    try:
        shutil.rmtree(folder)
    except (OSError, RecursionError):
        try:  # rm walks any depth without recursion
            subprocess.run(["rm", "-rf", "--", folder], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            pass


def run_in(scratch, files, argv, timeout, memory_mb, level):
    """Write `files` into `scratch`, start the answer there behind the wall, supervise it."""
    for name, data in files.items():
        os.makedirs(os.path.dirname(os.path.join(scratch, name)), exist_ok=True)
        with open(os.path.join(scratch, name), "wb") as f:
            f.write(data)
    read_end, write_end = os.pipe()        # the answer's result
    failed_end, failure_end = os.pipe()    # the launcher's failure, closed by its exec
    try:
        command = [sys.executable, "-I", "-B", "-X", "utf8", *argv[1:], str(write_end)]
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "HOME": scratch,
               "TMPDIR": scratch, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1"}
        if level.startswith("os"):
            config = dict(scratch=scratch, command=command, env=env, memory_mb=memory_mb,
                          parent=os.getpid(), failure_fd=failure_end,
                          cpu_seconds=int(timeout) + 5, namespaces="namespaces" in level,
                          read=readable(), execute=executables())
            command = [sys.executable, "-I", "-S", "-B", os.path.abspath(__file__),
                       "--launch", json.dumps(config)]
        child = subprocess.Popen(command, cwd=scratch, env=env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 pass_fds=(write_end, failure_end), start_new_session=True)
    except BaseException:
        os.close(read_end)
        os.close(failed_end)
        raise
    finally:
        os.close(write_end)
        os.close(failure_end)
    return supervise(child, read_end, failed_end, timeout)


def supervise(child, read_end, failed_end, timeout):
    """Read the child's stdout, stderr, result and failure pipes within the budgets until it
    ends, the time is up or a budget is exceeded (then its session is killed). -> Finished."""
    streams = {child.stdout.fileno(): "stdout", child.stderr.fileno(): "stderr",
               read_end: "result", failed_end: "failure"}
    budgets = {"stdout": PRINT_BYTES, "stderr": PRINT_BYTES, "result": RESULT_BYTES,
               "failure": 2**16}
    kept = {name: bytearray() for name in budgets}
    sent = {name: 0 for name in budgets}
    over, timed_out = None, False
    deadline = time.monotonic() + timeout
    selector = selectors.DefaultSelector()
    for fd in streams:
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
    try:
        while streams and over is None:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            for key, _ in selector.select(min(left, 1.0)):
                name = streams[key.fd]
                try:
                    data = os.read(key.fd, 2**16)
                except BlockingIOError:
                    continue
                if not data:
                    selector.unregister(key.fd)
                    del streams[key.fd]
                    continue
                sent[name] += len(data)
                if sent[name] > budgets[name]:
                    over = name
                    break
                kept[name] += data
        if over or timed_out:
            kill(child)
        status = child.wait(timeout=max(1.0, deadline - time.monotonic() + 5))
    except subprocess.TimeoutExpired:  # the streams closed, the process did not end
        kill(child)
        status, timed_out = child.wait(), True
    except BaseException:  # Ctrl-C: the answer runs in its own session, stop it too
        kill(child)
        child.wait()
        raise
    finally:
        selector.close()
        os.close(read_end)
        os.close(failed_end)
        child.stdout.close()
        child.stderr.close()
        kill(child)  # anything it left behind in its session
    return Finished(status, bytes(kept["stdout"]), bytes(kept["stderr"]), bytes(kept["result"]),
                    over, timed_out, sent, bytes(kept["failure"]).decode("utf-8", "replace"))


def kill(child):
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def readable():
    """The folders and files the answer may read: the standard library, the installed
    packages, libpython and the system's shared libraries (real paths, those that exist)."""
    import sysconfig
    base = {"base": sys.base_prefix, "platbase": sys.base_exec_prefix,
            "installed_base": sys.base_prefix, "installed_platbase": sys.base_exec_prefix}
    paths = {sysconfig.get_paths(vars=v)[k] for v in (None, base)
             for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths.update(p for p in sys.path if os.path.basename(p) in ("site-packages",
                                                                "dist-packages"))
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    paths.update(os.path.join(libdir, sysconfig.get_config_var(n) or "-")
                 for n in ("LDLIBRARY", "INSTSONAME"))
    paths.update([os.path.join(sys.prefix, "pyvenv.cfg"), "/usr/lib", "/usr/lib64", "/lib",
                  "/lib64", "/usr/local/lib", "/etc/ld.so.cache", "/usr/share/zoneinfo",
                  "/etc/localtime"])
    return sorted({os.path.realpath(p) for p in paths if os.path.exists(p)})


def executables():
    """This Python's binary and its ELF interpreter (the kernel opens both to exec it)."""
    binary = os.path.realpath(sys.executable)
    found = [binary]
    with open(binary, "rb") as f:
        elf = f.read(2**16)
    if elf[:4] == b"\x7fELF" and elf[4] == 2:  # 64-bit: the program headers, for PT_INTERP
        offset, size, count = (int.from_bytes(elf[a:b], "little") for a, b in
                               ((32, 40), (54, 56), (56, 58)))
        for i in range(count):
            header = elf[offset + i * size:offset + (i + 1) * size]
            if int.from_bytes(header[:4], "little") == 3:
                start, length = (int.from_bytes(header[a:b], "little") for a, b in
                                 ((8, 16), (32, 40)))
                with open(binary, "rb") as f:
                    f.seek(start)
                    found.append(os.path.realpath(f.read(length).rstrip(b"\0").decode()))
    return found


@functools.lru_cache(maxsize=None)
def isolation():
    """The strongest level that works here, tried for real once per process: 'os: namespaces,
    landlock ABI N, seccomp', 'os: landlock ABI N, seccomp' or 'guard: ...' (why)."""
    if os.environ.get("MAML_SANDBOX_LEVEL"):  # class mode: found once, by the parent process
        return os.environ["MAML_SANDBOX_LEVEL"]
    if os.environ.get("MAML_SANDBOX") == "guard":  # to try the fallback where there is more
        return "guard: the in-process guard only (MAML_SANDBOX=guard)"
    if not sys.platform.startswith("linux"):
        return f"guard: the in-process guard only (no OS sandbox on {sys.platform})"
    from os import uname
    if uname().machine != "x86_64":
        return f"guard: the in-process guard only (no seccomp filter for {uname().machine})"
    abi = landlock_abi()
    if abi < 1:
        return "guard: the in-process guard only (this kernel has no Landlock)"
    for level in (f"os: namespaces, landlock ABI {abi}, seccomp", f"os: landlock ABI {abi}, "
                  "seccomp"):
        probe = b"import os, sys; os.write(int(sys.argv[1]), b'ok')"
        finished = run({"probe.py": probe}, ["python", "probe.py"], 30.0, 512, level=level)
        if finished.status == 0 and finished.result == b"ok":
            return level
        why = (finished.failure or finished.stderr.decode("utf-8", "replace")).strip(
        ).splitlines()[-1:]
    return f"guard: the in-process guard only (the OS sandbox failed: {why[0] if why else '?'})"


# --- the launcher: run as its own process, it builds the wall and execs the answer ----------

def landlock_abi():
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        return max(0, libc.syscall(444, None, 0, 1))  # LANDLOCK_CREATE_RULESET_VERSION
    except (OSError, AttributeError):
        return 0


def launch(config):
    """Build the wall around this process, then exec config['command']."""
    os.set_inheritable(config["failure_fd"], False)  # closed by the exec: the answer lacks it
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long

    def check(value, what):
        if value < 0:
            error = ctypes.get_errno()
            raise SandboxError(f"{what}: {os.strerror(error)}")
        return value

    check(libc.prctl(1, signal.SIGKILL, 0, 0, 0), "PR_SET_PDEATHSIG")  # the checker gone: end
    if os.getppid() != config["parent"]:
        raise SandboxError("the checker ended before its answer started")
    scratch = config["scratch"]
    if config["namespaces"]:
        uid, gid = os.getuid(), os.getgid()
        contents = {}
        for folder, _, names in os.walk(scratch):
            for name in names:
                with open(os.path.join(folder, name), "rb") as f:
                    contents[os.path.relpath(os.path.join(folder, name), scratch)] = f.read()
        # user, mount, PID, network, IPC, UTS namespaces
        check(libc.unshare(0x10000000 | 0x00020000 | 0x20000000 | 0x40000000 | 0x08000000 |
                           0x04000000), "unshare")
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"),
                           ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
        check(libc.mount(None, b"/", None, 0x4000 | 0x40000, None), "mount --make-rprivate /")
        check(libc.mount(b"tmpfs", scratch.encode(), b"tmpfs", 0x2 | 0x4,  # nosuid, nodev
                         f"size={SCRATCH_MB}m,mode=0700".encode()), "mount tmpfs")
        for name, data in contents.items():
            os.makedirs(os.path.dirname(os.path.join(scratch, name)), exist_ok=True)
            with open(os.path.join(scratch, name), "wb") as f:
                f.write(data)
        pid = os.fork()  # the child is PID 1 of the new PID namespace
        if pid:
            os.closerange(0, 2**16)
            _, status = os.waitpid(pid, 0)
            if os.WIFSIGNALED(status):
                signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
                os.kill(os.getpid(), os.WTERMSIG(status))
            os._exit(os.waitstatus_to_exitcode(status))
        check(libc.prctl(1, signal.SIGKILL, 0, 0, 0), "PR_SET_PDEATHSIG")  # launcher gone: end
        os.setsid()
    import resource
    megabytes = config["memory_mb"] * 2**20
    for limit, value in ((resource.RLIMIT_AS, megabytes),
                         (resource.RLIMIT_CPU, config["cpu_seconds"]),
                         (resource.RLIMIT_FSIZE, FILE_MB * 2**20),
                         (resource.RLIMIT_NOFILE, OPEN_FILES), (resource.RLIMIT_CORE, 0),
                         (resource.RLIMIT_MEMLOCK, 0), (resource.RLIMIT_MSGQUEUE, 0)):
        resource.setrlimit(limit, (value, value))
    os.setpriority(os.PRIO_PROCESS, 0, 10)
    check(libc.prctl(38, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")
    drop_capabilities(libc)
    landlock(libc, check, config)
    seccomp(libc, check, os.getpid())
    os.chdir(scratch)
    os.execve(config["command"][0], config["command"], config["env"])


def drop_capabilities(libc):
    """No capabilities now or after exec, even as root (securebits NOROOT, locked)."""
    libc.prctl(28, 0x2f, 0, 0, 0)  # PR_SET_SECUREBITS: NOROOT, NO_SETUID_FIXUP, KEEP_CAPS_LOCKED
    for cap in range(64):
        libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP (fails harmlessly past the last cap)
    import ctypes
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()
    libc.capset(header, data)
    libc.prctl(47, 4, 0, 0, 0)  # PR_CAP_AMBIENT_CLEAR_ALL


FS_FILE = 1 | 2 | 4 | (1 << 14) | (1 << 15)  # execute, write, read, truncate, ioctl_dev
READ = 4 | 8                                  # read file, read dir
WRITE = 2 | (1 << 4) | (1 << 5) | (1 << 7) | (1 << 8) | (1 << 13) | (1 << 14)  # no mknod/sym


def landlock(libc, check, config):
    """Allow reading config['read'], executing config['execute'], reading and writing in the
    scratch folder: nothing else of the file system; no TCP bind/connect (ABI >= 4); no signals
    or abstract Unix sockets outside (ABI >= 6)."""
    import ctypes
    abi = check(libc.syscall(444, None, 0, 1), "landlock ABI")
    handled = (1 << 13) - 1 | (1 << 13 if abi >= 2 else 0) | (1 << 14 if abi >= 3 else 0) | (
        1 << 15 if abi >= 5 else 0)
    attr = (ctypes.c_uint64 * 3)(handled, 3 if abi >= 4 else 0, 3 if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = check(libc.syscall(444, attr, size, 0), "landlock_create_ruleset")

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    def allow(path, access):
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        try:
            if not os.path.isdir(path):
                access &= FS_FILE
            rule = PathBeneath(access & handled, fd)
            check(libc.syscall(445, ruleset, 1, ctypes.byref(rule), 0), f"landlock rule {path}")
        finally:
            os.close(fd)
    for path in config["read"]:
        allow(path, READ)
    for path in config["execute"]:
        allow(path, READ | 1)
    allow("/dev/null", 2 | 4)
    allow(config["scratch"], READ | WRITE)
    check(libc.syscall(446, ruleset, 0), "landlock_restrict_self")
    os.close(ruleset)


# x86-64 system call numbers the filter looks at
KILL, TKILL, TGKILL, RT_SIGQUEUEINFO, RT_TGSIGQUEUEINFO = 62, 200, 234, 129, 297
PRLIMIT64, SETPRIORITY, IOPRIO_SET, CLONE, CLONE3, PRCTL = 302, 141, 251, 56, 435, 157
SCHED_SET = (142, 144, 203, 314)  # setparam, setscheduler, setaffinity, setattr
REFUSED = {41: "socket", 53: "socketpair", 57: "fork", 58: "vfork", 101: "ptrace",
           310: "process_vm_readv", 311: "process_vm_writev", 312: "kcmp", 434: "pidfd_open",
           424: "pidfd_send_signal", 438: "pidfd_getfd", 440: "process_madvise",
           448: "process_mrelease", 322: "execveat", 272: "unshare", 308: "setns",
           165: "mount", 166: "umount2", 155: "pivot_root", 161: "chroot", 428: "open_tree",
           429: "move_mount", 430: "fsopen", 431: "fsconfig", 432: "fsmount", 433: "fspick",
           442: "mount_setattr", 248: "add_key", 249: "request_key", 250: "keyctl",
           321: "bpf", 298: "perf_event_open", 323: "userfaultfd", 425: "io_uring_setup",
           426: "io_uring_enter", 427: "io_uring_register", 256: "migrate_pages",
           279: "move_pages", 133: "mknod", 259: "mknodat", 303: "name_to_handle_at",
           304: "open_by_handle_at", 246: "kexec_load", 320: "kexec_file_load",
           175: "init_module", 313: "finit_module", 176: "delete_module", 163: "acct",
           167: "swapon", 168: "swapoff", 169: "reboot", 103: "syslog", 172: "iopl",
           173: "ioperm", 179: "quotactl",
           # System V and POSIX message queues, shared memory and semaphores: Landlock does
           # not cover them and, without an IPC namespace, they are shared with the machine
           29: "shmget", 30: "shmat", 31: "shmctl", 67: "shmdt", 64: "semget", 65: "semop",
           66: "semctl", 220: "semtimedop", 68: "msgget", 69: "msgsnd", 70: "msgrcv",
           71: "msgctl", 240: "mq_open", 241: "mq_unlink", 242: "mq_timedsend",
           243: "mq_timedreceive", 244: "mq_notify", 245: "mq_getsetattr",
           # watching other folders' files
           253: "inotify_init", 294: "inotify_init1", 254: "inotify_add_watch",
           300: "fanotify_init", 301: "fanotify_mark"}


def seccomp(libc, check, own):
    """Install the filter: the calls of REFUSED fail with EPERM; signals, prlimit,
    setpriority, sched_set* and ioprio_set only on this process (0 or `own`); clone only for
    threads; clone3 says ENOSYS (so that the C library falls back to clone); prctl may not
    change the parent-death signal."""
    import ctypes
    allow, eperm, enosys = 0x7fff0000, 0x00050000 | 1, 0x00050000 | 38
    program, labels, jumps = [], {}, []

    def op(code, k=0, jt=None, jf=None):
        program.append([code, jt, jf, k])

    def ret(value):
        op(0x06, value)

    def load(arg):  # the low 32 bits of argument `arg` (pid_t and int flags)
        op(0x20, 16 + 8 * arg)

    def branch_if(values, target):  # A == any value: go to label `target`
        for v in values:
            op(0x15, v & 0xffffffff, jt=target, jf=0)

    block = [0]

    def syscall_block(numbers, body):
        """if nr in numbers: body (ends in a return); else continue after it."""
        block[0] += 1
        skip = f"skip{block[0]}"
        for n in numbers[:-1]:
            op(0x15, n, jt=f"in{block[0]}", jf=0)
        op(0x15, numbers[-1], jt=0, jf=skip)
        labels[f"in{block[0]}"] = len(program)
        body(block[0])
        labels[skip] = len(program)

    def only_self(*args):
        def body(b):
            for arg, values in args:
                load(arg)
                branch_if(values, f"ok{b}.{arg}")
                ret(eperm)
                labels[f"ok{b}.{arg}"] = len(program)
            ret(allow)
        return body

    me = (0, own)
    op(0x20, 4)                                   # the architecture
    op(0x15, 0xc000003e, jt=1, jf=0)              # AUDIT_ARCH_X86_64
    ret(0x80000000)                               # another ABI: kill the process
    op(0x20, 0)                                   # the call number
    op(0x35, 0x40000000, jt=0, jf=1)              # x32 calls
    ret(eperm)
    syscall_block(sorted(REFUSED), lambda b: ret(eperm))
    syscall_block([KILL], only_self((0, (0, own, -own) if own > 1 else (0, own))))
    syscall_block([TGKILL, RT_SIGQUEUEINFO, RT_TGSIGQUEUEINFO], only_self((0, (own,))))
    syscall_block([TKILL], lambda b: ret(eperm))
    syscall_block([PRLIMIT64, *SCHED_SET], only_self((0, me)))
    syscall_block([SETPRIORITY], only_self((0, (0,)), (1, me)))   # PRIO_PROCESS, self
    syscall_block([IOPRIO_SET], only_self((0, (1,)), (1, me)))    # IOPRIO_WHO_PROCESS, self
    syscall_block([CLONE3], lambda b: ret(enosys))

    def keep_parent_death_signal(b):  # PR_SET_PDEATHSIG: its launcher's end stays its end
        load(0)
        op(0x15, 1, jt=0, jf=1)
        ret(eperm)
        ret(allow)
    syscall_block([PRCTL], keep_parent_death_signal)

    def threads_only(b):
        load(0)
        op(0x45, 0x10000, jt=1, jf=0)             # CLONE_THREAD set?
        ret(eperm)
        ret(allow)
    syscall_block([CLONE], threads_only)
    ret(allow)
    filters = (ctypes.c_uint8 * (8 * len(program)))()
    for i, (code, jt, jf, k) in enumerate(program):
        jt = labels[jt] - i - 1 if isinstance(jt, str) else jt or 0
        jf = labels[jf] - i - 1 if isinstance(jf, str) else jf or 0
        if not (0 <= jt < 256 and 0 <= jf < 256):
            raise SandboxError("seccomp filter: a jump too long")
        filters[8 * i:8 * i + 8] = list(code.to_bytes(2, "little") + bytes([jt, jf]) +
                                        k.to_bytes(4, "little"))

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    prog = Program(len(program), ctypes.addressof(filters))
    check(libc.prctl(22, 2, ctypes.byref(prog), 0, 0), "seccomp filter")  # SECCOMP_MODE_FILTER


if __name__ == "__main__" and sys.argv[1:2] == ["--launch"]:
    settings = json.loads(sys.argv[2])
    try:
        launch(settings)
    except (SandboxError, OSError, ValueError) as e:
        os.write(settings["failure_fd"], f"sandbox: could not build the wall: {e}".encode())
        os._exit(125)
