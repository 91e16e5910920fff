"""How many threads BLAS (numpy's matrix products) may use, set before numpy loads. Plumbing.

The demos' matrices are small (a few hundred rows at most): splitting a product between threads
costs more than it saves, and on a machine where another process is busy the threads wait for
each other. Measured on the 2-core machine this project is developed on (docs/speed.md,
"BLAS threads"): one thread was never much slower than two, and two were up to 10 times slower
than one once another process kept a core busy. So the demos use one thread unless told
otherwise: `--threads N`, or OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS set in
the environment (the flag wins). numpy reads these variables once, when it loads: hence a module
of its own, imported before numpy.
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
