import os
import signal
import sys


def _die_with_parent() -> None:
    """Started by ``handoff-console demo``: be sent SIGTERM when the console dies, even by
    kill -9 (Linux), and leave at once if it died before this line ran."""
    parent = os.environ.get("HANDOFF_DEMO_PARENT_PID")
    if not parent:
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != int(parent):
        os._exit(0)


_die_with_parent()

from demo_pipeline.run import main  # noqa: E402 - the parent watch comes first

code = main()
# Every provider is shut down and the summary printed by now. Leave without the interpreter's
# teardown, where grpc's event-engine poller can abort on a closed descriptor (SIGABRT, exit -6)
# and turn a clean run into a failed one.
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
