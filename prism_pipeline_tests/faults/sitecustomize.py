"""Fault injection for the fault tests (``test_faults.py``): on ``PYTHONPATH`` of a real
``prism-pipeline`` process, it stops that process at one exact moment, as a crash would.

``PRISM_TEST_FAULT="kill:<module>:<qualname>:<n>"`` sends the process SIGKILL when the named
function (``Class.method`` allowed) is entered for the n-th time; ``"pause:…:<n>:<barrier>"``
creates ``<barrier>.reached`` there and waits until ``<barrier>.go`` exists (so a test can act
while the process is at that point). Nothing else changes: the function then runs as it is. The
function is wrapped when its module is first imported, before any other module imports it by
name. Only the process started with the variable acts on it, not the processes it starts.
"""

import os
import sys

_SPEC = os.environ.get("PRISM_TEST_FAULT")
_OWNER = os.environ.setdefault("PRISM_TEST_FAULT_PID", str(os.getpid())) if _SPEC else None

if _SPEC and _OWNER == str(os.getpid()):
    import functools
    import importlib.abc
    import importlib.util
    import signal
    import threading
    import time
    from pathlib import Path

    _action, _module, _qualname, _n, *_rest = _SPEC.split(":", 4)
    _calls = {"n": 0}
    _count_lock = threading.Lock()

    def _fault() -> None:
        with _count_lock:
            _calls["n"] += 1
            hit = _calls["n"] == int(_n)
        if not hit:
            return
        if _action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        barrier = Path(_rest[0])
        Path(f"{barrier}.reached").write_text(str(os.getpid()))
        while not Path(f"{barrier}.go").exists():
            time.sleep(0.05)

    def _wrap(module) -> None:
        owner, _, name = _qualname.rpartition(".")
        target = getattr(module, owner) if owner else module
        original = getattr(target, name)

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            _fault()
            return original(*args, **kwargs)

        setattr(target, name, wrapper)

    class _Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != _module:
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            execute = spec.loader.exec_module

            def exec_module(module):
                execute(module)
                _wrap(module)

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _Finder())
