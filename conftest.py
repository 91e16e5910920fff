"""pytest setup shared by every test file: hypothesis profiles (few examples in the quick suite,
many in the slow one)."""
import os

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
