"""Sandbox child: run one untrusted program under limits. Executed by path, never imported.

usage: python -I sandbox_child.py PROGRAM CPU_SECONDS MEMORY_MB   (nonce on stdin)

Reads a nonce from stdin before anything untrusted runs, sets resource limits (address space, CPU
time, file size, no core dumps), blocks sockets and process-spawning/killing calls (best effort:
this is a guard against accidents of model-written code, not a security boundary), executes the
program as __main__, and only then prints the nonce. The parent counts a run as passed only when
the exit status is 0 *and* the nonce was printed, so an early os._exit(0) cannot pass.
"""
import os
import resource
import sys


def _limit(cpu_s: int, memory_mb: int) -> None:
    mem = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024 * 1024,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _blocked(*_args, **_kwargs):
    raise PermissionError("blocked by the seed-lsp eval sandbox")


def _guard() -> None:
    import shutil
    import socket
    import subprocess

    class NoSocket(socket.socket):
        def __init__(self, *args, **kwargs):
            _blocked()

    socket.socket = NoSocket
    for name in ("create_connection", "create_server", "socketpair", "getaddrinfo", "fromfd"):
        setattr(socket, name, _blocked)
    for name in ("system", "fork", "forkpty", "kill", "killpg", "popen", "execv", "execve", "execvp",
                 "execvpe", "spawnv", "spawnve", "posix_spawn", "posix_spawnp", "setuid", "putenv"):
        if hasattr(os, name):
            setattr(os, name, _blocked)
    subprocess.Popen = _blocked
    shutil.rmtree = _blocked
    shutil.move = _blocked


def main() -> None:
    path, cpu_s, memory_mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    nonce = sys.stdin.readline().strip()
    sys.stdin.close()
    with open(path, encoding="utf-8") as f:
        source = f.read()
    _limit(cpu_s, memory_mb)
    _guard()
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    try:
        exec(compile(source, "candidate.py", "exec"), namespace)
    except BaseException as exc:  # noqa: BLE001 - report any failure as one line, never a traceback
        msg = f"{type(exc).__name__}: {exc}"[:300].replace("\n", " ")
        os.write(2, ("\n" + msg + "\n").encode("utf-8", "replace"))
        os._exit(1)
    sys.stdout.flush()
    os.write(1, ("\n" + nonce + "\n").encode())
    os._exit(0)


if __name__ == "__main__":
    main()
