"""Run a project's command and kill it (SIGKILL: no cleanup, no finally) at a chosen moment of one file write.

    FAULT_KILL=<moment>:<file name> python -m faults_killswitch <package> ARGS...

moments:
  writing  - as the temp file beside <file name> is opened for its content: the write has begun,
             <file name> itself must still be the old one;
  replace  - as a finished file is about to take the place of <file name> (os.replace / os.rename).

A Python audit hook watches the opens and renames the process makes; the project's code runs
unchanged (nothing is patched). A write that is not atomic never renames: the command then ends
normally, and the test that expected a kill says so.
"""

import os
import re
import runpy
import signal
import sys


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def hook_for(moment: str, name: str):
    temp = re.compile(r"\." + re.escape(name) + r"\..*\.part")

    def hook(event: str, args: tuple) -> None:
        if moment == "writing" and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            path = os.fsdecode(args[0])
            mode, flags = args[1], args[2]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax")) or (
                mode is None and flags & (os.O_WRONLY | os.O_RDWR)
            )
            if writing and temp.fullmatch(os.path.basename(path)) and os.path.exists(path):
                _kill()  # the temp file exists (mkstemp made it): its content is being written now
        elif moment == "replace" and event == "os.rename" and isinstance(args[1], (str, bytes, os.PathLike)):
            if os.path.basename(os.fsdecode(args[1])) == name:
                _kill()

    return hook


def main() -> None:
    moment, _, name = os.environ["FAULT_KILL"].partition(":")
    if moment not in ("writing", "replace") or not name:
        raise SystemExit("FAULT_KILL must be writing:<file name> or replace:<file name>")
    sys.addaudithook(hook_for(moment, name))
    package = sys.argv[1]
    sys.argv = [package, *sys.argv[2:]]
    runpy.run_module(package, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
