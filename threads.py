"""How many threads BLAS (numpy's matrix products) may use, set before numpy loads. Plumbing.

The demos' matrices are small (a few hundred rows at most): splitting a product between threads
saves little, and when other programs keep the cores busy the threads wait for each other (and
spin while they wait). Measured on this project's 2-core machine on 7 December 2026, while
other sessions kept it loaded (load average 20 to 26; "burner": one more `while 1: pass`),
alternating one thread (OPENBLAS_NUM_THREADS=1) and OpenBLAS's default (both cores):

    30 iterations of few-shot MAML (784-128-64-64-5, 16 episodes), wall (CPU) seconds:
        one thread  15.9 (1.4), 11.1 (1.3), 10.8 (1.4);  burner 21.5 (1.1), 21.2 (1.2)
        default     86.8 (13.2), 39.8 (7.2), 104.2 (12.5);  burner 128.5 (11.0), 178.6 (14.4)
    300 iterations of sinusoid MAML (1-40-40-1, 25 tasks):
        one thread  14.8, 13.0, 15.1;  burner 17.2, 14.3
        default     15.4, 12.1, 10.9;  burner 16.5, 13.5   (CPU 1.0 to 1.4 s for every run)

One thread was never much slower (the sinusoid: the same within the noise) and was 3.6 to 9.6
times faster for the few-shot network, using a tenth of the CPU. So the demos use one thread
unless told otherwise: `--threads N`, or OPENBLAS_NUM_THREADS / OMP_NUM_THREADS /
MKL_NUM_THREADS set in the environment (the flag wins). numpy reads these variables once, when
it loads: hence a module of its own, imported before numpy. (bench_maml.py and the grader pin
one thread too.)
"""
import os
import sys

DEFAULT = 1
VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
HIGHEST = 64


def requested(argv):
    """The N of `--threads N` or `--threads=N` in argv (the last one given), or None if there is
    none or it is not a whole number from 1 to HIGHEST (argparse then says so in one line)."""
    value = None
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            value = argv[i + 1]
        elif isinstance(arg, str) and arg.startswith("--threads="):
            value = arg.split("=", 1)[1]
    try:
        n = int(value)
    except (TypeError, ValueError):
        return None
    return n if 1 <= n <= HIGHEST else None


def choose(argv=None):
    """Set the BLAS thread count for this process (and its children) before numpy loads:
    --threads N from argv (sys.argv by default), else the environment's setting, else DEFAULT.
    Returns the count in effect, or None where numpy had already loaded (then nothing is
    changed: the count numpy started with stays)."""
    if "numpy" in sys.modules:
        return None
    n = requested(sys.argv[1:] if argv is None else argv)
    if n is None:
        given = next((os.environ[v] for v in VARIABLES if os.environ.get(v, "").isdigit()), None)
        n = int(given) if given and int(given) >= 1 else DEFAULT
    for variable in VARIABLES:
        os.environ[variable] = str(n)
    return n


def in_effect():
    """The thread count this process's BLAS was told (OPENBLAS_NUM_THREADS), or None if unset."""
    value = os.environ.get("OPENBLAS_NUM_THREADS", "")
    return int(value) if value.isdigit() else None
