"""One Python thread state for each Bytewax worker thread, for the thread's whole life.

Bytewax's worker threads are Rust threads, not Python ones: PyO3 creates a thread state each time
such a thread takes the GIL and deletes it when it lets go. With two workers or two processes the
read flow died in that teardown after a few frames (CPython's ``tstate_delete_common`` found the
state's links overwritten), and chDB's fatal-signal handler, which waits for a server thread that an
embedded database does not run, turned the crash into a hang. A worker thread whose state is never
deleted does not crash: ``tests/flows/test_scale_out.py`` hangs without this and passes with it.
"""

from __future__ import annotations

import ctypes
import threading

_pinned = threading.local()  # lives in the thread state, so it is set once the state is kept


def pin_thread_state() -> None:
    """Keep this thread's Python thread state (one PyGILState_Ensure never released); a no-op on the
    main thread and once done. Call it first in every step and sink a worker thread runs."""
    if not getattr(_pinned, "done", False) and threading.current_thread() is not threading.main_thread():
        ctypes.pythonapi.PyGILState_Ensure()
        _pinned.done = True
