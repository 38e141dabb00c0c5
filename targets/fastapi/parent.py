"""Ties a process's life to its parent's: used with --exit-with-parent."""

import os
import signal
import threading
import time


def watch_parent(parent):
    """Stops this process when its parent, the process parent, is gone (e.g.
    a test that died without stopping it), checked now and then once a
    second from a daemon thread: SIGTERM first, so that uvicorn shuts down
    and the launcher removes its files, then an exit 5 s later."""

    def loop():
        while os.getppid() == parent:
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        os._exit(1)

    threading.Thread(target=loop, name="watch-parent", daemon=True).start()
