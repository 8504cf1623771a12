"""Run many CLI invocations fast: this process imports edge-transfer and its heavy
dependencies once, then forks one child per request, which runs ``edge_transfer.cli.main``
exactly as the console script does (its own process, exit code, stdout and stderr, an
uncaught exception printed as a traceback). Requests are JSON lines on stdin:
{"argv": [...], "cwd": ..., "stdout": path, "stderr": path}; each answer is {"rc": N}."""

import json
import os
import sys
import traceback

os.environ.setdefault("NM_DISABLE_ANALYTICS", "1")

# what most subcommands import: loaded once here, before any thread exists, so fork is safe
import numpy  # noqa: E402,F401
import onnx  # noqa: E402,F401
import torch  # noqa: E402,F401

import edge_transfer.cli.main as cli  # noqa: E402

cli.build_parser()  # imports every subcommand module


def _child(request: dict) -> int:
    os.chdir(request["cwd"])
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
    try:
        return cli.main(request["argv"])
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def serve() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os._exit(_child(request))
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"rc": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    serve()
