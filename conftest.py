"""pytest setup shared by every test file: hypothesis profiles (few examples in the quick suite,
many in the slow one), and a check that no test leaves a signal handler changed."""
import os
import signal

import pytest

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis is a dev requirement; the runtime needs none of this
    pass
else:
    settings.register_profile("quick", max_examples=25, deadline=None, database=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("thorough", max_examples=300, deadline=None, database=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))


WATCHED = (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE)

# A shell without job control starts a background command (`pytest &`, `( ... ) &`) with SIGINT
# ignored, and every process a test starts would inherit that: the Ctrl-C tests would then
# send their Ctrl-C to checkers that cannot hear it. The suite runs as it would in a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def signal_handlers_restored():
    """Code run in-process (a library function, a demo's main) must leave the signal handlers
    as it found them: an ignored SIGINT is inherited by every process started afterwards, so
    Ctrl-C would stop reaching them."""
    before = {s: signal.getsignal(s) for s in WATCHED}
    yield
    changed = [s.name for s in WATCHED if signal.getsignal(s) is not before[s]]
    for s in WATCHED:
        signal.signal(s, before[s])
    assert not changed, f"the test left these signal handlers changed: {changed}"
