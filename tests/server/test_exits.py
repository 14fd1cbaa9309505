"""Clean exits, each path 20 times: the API with and without close() (the latter with a job still
running, which aborted 6 of 6 times before the engine's exit hook), `seed-lsp complete`,
`seed-lsp serve` on end of input and on SIGTERM (a completion in flight), `seed-lsp daemon stop`.
Each run must exit 0, not abort, print no traceback, and leave no socket (nor pid file: an xfail for now).

Twenty fresh interpreters per path cost ~4 s each here just to import torch, so the runs are
forked from two zygotes (one per core) that have imported torch and the packages (and run no torch
op): each child runs the command's own main() and then exits through the normal interpreter
finalization (atexit hooks, daemon threads stopped, modules torn down), which is where the aborts
happen. That finalization is most of each run's ~1.2 CPU-s: the file costs ~150 CPU-s (1 min 46 s
at load 1); SEED_EXIT_RUNS=N runs fewer. The abort-prone API path also runs once as a fresh process
(tests/server/test_tcp_auth.py ends fresh `serve` processes by end of input and by exit).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

RUNS = int(os.environ.get("SEED_EXIT_RUNS", "20"))

ZYGOTE = textwrap.dedent(r'''
    import json, os, signal, sys, time
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as seed_lsp.cli sets it
    # Imported, never run, before forking (no torch op: a child must start with no thread pools).
    import torch, torch._dynamo, safetensors.torch, tokenizers, msgpack  # noqa: F401,E401
    import runtime.engine, runtime.loader, runtime.batch, runtime.embedded, kernels.dispatch  # noqa: F401,E401
    import seed_lsp.cli, seed_lsp.serve, seed_lsp.complete_cli, seed_lsp.completer  # noqa: F401,E401
    import seed_lsp.features.inline_completion, seed_lsp.daemon.cli, seed_lsp.daemon.server  # noqa: F401,E401
    import seed_lsp.daemon.client  # noqa: F401
    import threading
    assert threading.active_count() == 1  # (torch's import starts one native thread, as under DataLoader forks)

    cfg = json.loads(sys.argv[1])
    MODEL, TMP, RUNS = cfg["model"], cfg["tmp"], cfg["runs"]
    SERVE = ["serve", "--model", MODEL, "--device", "cpu", "--daemon", "off", "--log-level", "warning"]

    def frame(obj):
        body = json.dumps(obj).encode()
        return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)

    LSP_OPEN = b"".join(frame(m) for m in [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {},
         "initializationOptions": {"maxTokens": 6, "confidenceFloor": 0.0, "workspaceContext": False}}},
        {"jsonrpc": "2.0", "method": "initialized", "params": {}},
        {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": "file:///x.py", "languageId": "python", "version": 1, "text": "def f(x):\n    return "}}}])

    def complete(msg_id, tokens=6):
        return frame({"jsonrpc": "2.0", "id": msg_id, "method": "textDocument/inlineCompletion", "params": {
            "textDocument": {"uri": "file:///x.py"}, "position": {"line": 1, "character": 11},
            "context": {"triggerKind": 2}}})

    def child_api(close):
        from runtime import Engine, InfillJob
        e = Engine.load(MODEL, device="cpu")
        for i in range(5):
            e.infill(f"def f{i}(x):\n    return ", "\n", mode="line", max_tokens=4)
        for _ in range(3):  # one token a step: hundreds of steps, the worker inside torch at exit
            e.submit(InfillJob(prefix="def g(x):\n" * 40, suffix="\n", mode="block", max_tokens=200,
                               strategy="one", params={"gap": 200}))
        time.sleep(0.05)
        if close:
            e.close()
        return 0

    def child_complete():
        src = os.path.join(TMP, "src.py")
        with open(src, "w") as f:
            f.write("def f(x):\n    return \n")
        return seed_lsp.cli.main(["complete", f"{src}:2:12", "--model", MODEL, "--device", "cpu", "--max-tokens", "4"])

    def fork(fn, stdin=None, name="run", close=()):
        err = os.open(os.path.join(TMP, name + ".err"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        out = os.open(os.path.join(TMP, name + ".out"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        sys.stdout.flush(); sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            for fd in close:
                os.close(fd)
            os.dup2(stdin if stdin is not None else os.open(os.devnull, os.O_RDONLY), 0)
            os.dup2(out, 1); os.dup2(err, 2)
            try:
                code = fn()
            except SystemExit as exc:
                code = exc.code
            except BaseException:
                import traceback
                traceback.print_exc()
                code = 1
            sys.exit(code)  # the interpreter's own exit: atexit hooks, threads, module teardown
        os.close(err); os.close(out)
        return pid

    def wait(pid, name, timeout=180):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.02)
        else:
            os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0)
            return {"timeout": True, "err": ""}
        with open(os.path.join(TMP, name + ".err"), errors="replace") as f:
            err = f.read()
        return {"code": os.waitstatus_to_exitcode(status), "err": err[-3000:],
                "cpu_s": round(usage.ru_utime + usage.ru_stime, 2)}

    def wait_for_text(path, needle, timeout=60):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with open(path, "rb") as f:
                if needle in f.read():
                    return True
            time.sleep(0.02)
        return False

    def run_serve(on_sigterm, i):
        r, w = os.pipe()
        name = f"serve-{i}"
        pid = fork(lambda: seed_lsp.cli.main(SERVE), stdin=r, name=name, close=[w])
        os.close(r)
        os.write(w, LSP_OPEN + complete(2))
        if on_sigterm:
            wait_for_text(os.path.join(TMP, name + ".out"), b'"id": 2')  # model loaded, a job answered
            os.write(w, complete(3))
            time.sleep(0.01 * (i % 5))
            os.kill(pid, signal.SIGTERM)
        elif i % 2:
            wait_for_text(os.path.join(TMP, name + ".out"), b'"id": 2')
            os.write(w, complete(3))  # end of input with a job in flight
        os.close(w)
        return wait(pid, name)

    def run_daemon(i):
        private = os.path.join(TMP, "run")
        os.makedirs(private, mode=0o700, exist_ok=True)
        sock = os.path.join(private, f"d{i}.sock")
        pid = fork(lambda: seed_lsp.cli.main(["daemon", "--socket", sock, "--model", MODEL, "--device", "cpu"]),
                   name=f"daemon-{i}")
        end = time.monotonic() + 120
        while not os.path.exists(sock) and time.monotonic() < end and not os.waitpid(pid, os.WNOHANG)[0]:
            time.sleep(0.02)
        stop = wait(fork(lambda: seed_lsp.cli.main(["daemon", "stop", "--socket", sock]), name=f"stop-{i}"), f"stop-{i}")
        res = wait(pid, f"daemon-{i}")
        res.update(stop=stop, sock=sock, left=[p for p in (sock, sock + ".pid") if os.path.exists(p)])
        return res

    paths = {
        "api_close": lambda i: wait(fork(lambda: child_api(True), name="api"), "api"),
        "api_no_close": lambda i: wait(fork(lambda: child_api(False), name="api"), "api"),
        "complete": lambda i: wait(fork(child_complete, name="complete"), "complete"),
        "serve_eof": lambda i: run_serve(False, i),
        "serve_sigterm": lambda i: run_serve(True, i),
        "daemon_stop": run_daemon,
    }
    results = {}
    for name in cfg["paths"]:
        t0 = time.monotonic()
        runs = []
        for i in range(RUNS):
            runs.append(paths[name](i))
            print(f"{name} {i} {runs[-1].get('code')} cpu {runs[-1].get('cpu_s')} s, {time.monotonic() - t0:.1f} s",
                  file=sys.stderr, flush=True)
        results[name] = {"runs": runs, "seconds": round(time.monotonic() - t0, 1)}
    print(json.dumps(results))
''')


def bad(run: dict) -> str | None:
    """Why a run is not clean, or None."""
    err = run.get("err", "")
    for needle in ("Traceback", "terminate called", "Fatal Python error", "Aborted"):
        if needle in err:
            return f"{needle!r} on stderr: {err[-1500:]}"
    if run.get("timeout"):
        return "did not exit"
    if run.get("code") != 0:
        return f"exit code {run.get('code')}: {err[-1500:]}"
    return None


GROUPS = (["api_close", "api_no_close", "complete"], ["serve_eof", "serve_sigterm", "daemon_stop"])


@pytest.fixture(scope="module")
def zygote_runs(tiny_model_dir, tmp_path_factory):
    """Both zygotes at once (one per core); each forks its paths' runs one after another."""
    procs = []
    for paths in GROUPS:
        tmp = tmp_path_factory.mktemp("exits")
        cfg = {"model": str(tiny_model_dir), "tmp": str(tmp), "runs": RUNS, "paths": paths}
        with open(tmp / "zygote.err", "w") as err:  # one line per run: follow it with tail -f
            procs.append((subprocess.Popen([sys.executable, "-c", ZYGOTE, json.dumps(cfg)], stdout=subprocess.PIPE,
                                           stderr=err, text=True), tmp / "zygote.err"))
    results = {}
    for proc, err in procs:
        try:
            out, _ = proc.communicate(timeout=1500)
        finally:
            proc.kill()
        assert proc.returncode == 0, err.read_text()[-3000:]
        results.update(json.loads(out.strip().splitlines()[-1]))
    return results


@pytest.mark.timeout(1600)
@pytest.mark.parametrize("path", GROUPS[0] + GROUPS[1])
def test_twenty_clean_exits(zygote_runs, path):
    runs = zygote_runs[path]["runs"]
    problems = [(i, why) for i, run in enumerate(runs) if (why := bad(run))]
    if path == "daemon_stop":
        problems += [(i, f"stop: {why}") for i, run in enumerate(runs) if (why := bad(run["stop"]))]
        problems += [(i, "socket left behind") for i, run in enumerate(runs) if run["sock"] in run["left"]]
    cpu = sum(r.get("cpu_s", 0) for r in runs)
    print(f"\n{path}: {len(runs) - len({i for i, _ in problems})}/{len(runs)} clean, {zygote_runs[path]['seconds']} s "
          f"({cpu:.0f} CPU s)")
    assert len(runs) == RUNS and not problems, problems[:3]


@pytest.mark.xfail(strict=True, reason="seed_lsp/daemon/cli.py keeps <socket>.pid, its flock file, after a stop "
                                       "(daemon code, owned by the daemon work)")
def test_daemon_stop_leaves_no_pid_file(zygote_runs):
    assert not [run["left"] for run in zygote_runs["daemon_stop"]["runs"] if run["left"]]


API_SCRIPT = textwrap.dedent('''
    import sys, time
    from runtime import Engine, InfillJob
    e = Engine.load(sys.argv[1], device="cpu")
    e.infill("x = ", "\\n", mode="line", max_tokens=4)
    for _ in range(3):
        e.submit(InfillJob(prefix="def g(x):\\n" * 40, suffix="\\n", mode="block", max_tokens=200, strategy="one",
                           params={"gap": 200}))
    time.sleep(0.05)
''')


@pytest.mark.timeout(120)
def test_fresh_process_ending_with_a_job_running_exits_cleanly(tiny_model_dir):
    r = subprocess.run([sys.executable, "-c", API_SCRIPT, str(tiny_model_dir)], capture_output=True, text=True, timeout=110)
    assert bad({"code": r.returncode, "err": r.stderr}) is None
