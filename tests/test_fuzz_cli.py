"""Fuzz every ``ganzoo`` sub-command with generated argument lists, files and environment variables (issue 11).

Hypothesis builds each example from a grammar per sub-command (its real flags, with values such as huge, negative
and zero numbers, nan, empty and unicode strings, paths to generated zoo files, checkpoints, evaluator files,
images and run folders, directories, missing paths, ``/dev/null``, ``/dev/zero``, a FIFO, a symlink loop, a sparse
5 GiB file) and from the environment variables ganzoo reads (GANZOO_CONFIG, GANZOO_DATA, GANZOO_CACHE,
GANZOO_INCEPTION_WEIGHTS, GANZOO_DISABLE_PLUGINS, WORLD_SIZE/RANK/LOCAL_RANK). A share of each example's values is
junk (none, 5%, 20% or all), so that examples reach both the first checks and the code behind them. Every example
runs ``ganzoo.cli.main(argv)`` in its own temporary working folder, inside ONE child process whose address space is
capped (``RLIMIT_AS``: what torch maps after a warm-up plus ``GANZOO_FUZZ_MEMORY_GB``, default 3), and must:

* end with exit code 0 or 2 (an exception other than ``SystemExit(0|2)`` is a failure, and so is 130);
* print no "Traceback"; a failure's error is the last line of stderr and is one line;
* stay within the memory cap (an error that says it could not allocate memory is a failure too);
* end within ``GANZOO_FUZZ_TIMEOUT`` seconds (default 30).

A crash or hang of the child is recorded against the example it was running, and the child is restarted after it.
Each new failure is shrunk for up to ``GANZOO_FUZZ_SHRINK_SECONDS`` (default 20; 0: off) by dropping environment
variables and arguments while it stays the same failure. The test lists every distinct failure (deduplicated by the
raising place in ganzoo) with a command line, environment and files to reproduce it.

Budget: ``GANZOO_FUZZ_EXAMPLES`` distinct examples run (default 150: about a minute on 2 busy CPU cores),
derandomized (the same examples on every run) unless ``GANZOO_FUZZ_SEED`` is set. Hunting locally, without pytest
(``GANZOO_FUZZ_REPO`` lets a copy of this file test the checkout it names)::

    GANZOO_FUZZ_EXAMPLES=2000 GANZOO_FUZZ_SEED=1 python tests/test_fuzz_cli.py hunt /tmp/fuzz
"""
from __future__ import annotations

import contextlib
import copy
import faulthandler
import io
import json
import math
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
import traceback
import zlib
from pathlib import Path
from typing import Any, Callable

REPO = Path(os.environ.get("GANZOO_FUZZ_REPO") or Path(__file__).resolve().parents[1])  # a copy may run elsewhere
EXAMPLES = int(os.environ.get("GANZOO_FUZZ_EXAMPLES", "150"))
SEED = os.environ.get("GANZOO_FUZZ_SEED")
TIMEOUT = float(os.environ.get("GANZOO_FUZZ_TIMEOUT", "30"))
MEMORY_GB = float(os.environ.get("GANZOO_FUZZ_MEMORY_GB", "3"))
MAX_RESTARTS = 30
OWN_FILES = (str(REPO / "ganzoo"), str(REPO / "plugins"))
MEMORY_WORDS = ("can't allocate memory", "cannot allocate memory", "memoryerror", "out of memory", "bad_alloc",
                "can't start new thread", "decompressionbomb")


def test_every_subcommand_survives_generated_input(tmp_path: Path) -> None:
    failures = fuzz(tmp_path, EXAMPLES)
    assert not failures, summary(failures)


# -- the parent: runs (and restarts) the child, gathers its failures -----------------------------------------------
def fuzz(root: Path, examples: int) -> list[dict]:
    """Run ``examples`` examples in a child process (restarted after a crash or a hang); the distinct failures."""
    root.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GANZOO_", "WORLD_SIZE", "RANK", "LOCAL_RANK"))}
    env.update({"PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins"), env.get("PYTHONPATH", "")]),
                "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2", "COLUMNS": "1000",
                "HOME": str(root / "home"), "XDG_CACHE_HOME": str(root / "xdg"), "TORCH_HOME": str(root / "torch"),
                "GANZOO_CACHE": str(root / "cache"), "PYTHONFAULTHANDLER": "1",
                "GANZOO_FUZZ_EXAMPLES": str(examples), "GANZOO_FUZZ_TIMEOUT": str(TIMEOUT),
                "GANZOO_FUZZ_MEMORY_GB": str(MEMORY_GB), "GANZOO_FUZZ_REPO": str(REPO),
                **({"GANZOO_FUZZ_SEED": SEED} if SEED else {})})
    log, current = root / "failures.jsonl", root / "current.json"
    skip = 0
    for _ in range(MAX_RESTARTS):
        current.unlink(missing_ok=True)
        with open(root / "worker-stderr.txt", "wb") as err:
            proc = subprocess.Popen([sys.executable, __file__, "worker", str(root), str(skip)], env=env,
                                    stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
            hung = _wait(proc, current)
        if proc.returncode == 0 and (root / "done").exists():
            break
        if (root / "harness-error.txt").exists():
            raise AssertionError("the fuzz harness failed:\n" + (root / "harness-error.txt").read_text())
        doing = json.loads(current.read_text()) if current.exists() else None
        text = (root / "worker-stderr.txt").read_bytes().decode("utf-8", "replace")
        tail = text.strip().splitlines()[-12:]
        if doing is None:
            raise AssertionError(f"the fuzz child died before its first example (exit {proc.returncode}):\n"
                                 + "\n".join(tail))
        # faulthandler's dump (most recent call first) says where: a crash, or its watchdog's "Timeout (0:01:00)!"
        what = "hang" if hung or re.search(r"^Timeout \(", text, re.M) else "crash"
        frames = re.findall(r'^\s+File "([^"]+)", line (\d+) in (\S+)', text.split("Current thread")[-1], re.M)
        ours = [f for f in frames if f[0].startswith(OWN_FILES)] or frames
        where = f"{os.path.relpath(ours[0][0], REPO)}:{ours[0][1]} in {ours[0][2]}" if ours else doing["argv"][:1]
        record = {**doing, "kind": what, "key": f"{what} (exit {proc.returncode}) at {where}",
                  "last_line": next((line for line in text.splitlines() if line.startswith("Fatal Python error")),
                                    tail[-1] if tail else f"exit {proc.returncode}"), "detail": "\n".join(tail)}
        with open(log, "a") as f:
            f.write(json.dumps(record) + "\n")
        skip = doing["index"] + 1
    return dedupe([json.loads(line) for line in log.read_text().splitlines()] if log.exists() else [])


def _wait(proc: subprocess.Popen, current: Path) -> bool:
    """Wait for the child; kill it when one example runs far past its time limit (a hang in C code)."""
    while proc.poll() is None:
        time.sleep(0.5)
        try:
            started = json.loads(current.read_text())["started"]
        except (OSError, ValueError, KeyError):
            continue
        if time.time() - started > TIMEOUT + 60:
            proc.kill()
            proc.wait()
            return True
    return False


def dedupe(records: list[dict]) -> list[dict]:
    """One record per failure key (the smallest example), with how often the key was hit."""
    best: dict[str, dict] = {}
    for r in records:
        size = len(json.dumps([r["argv"], r["env"], r["files"]]))
        old = best.get(r["key"])
        if old is None or size < old["size"]:
            best[r["key"]] = {**r, "size": size, "count": (old or {}).get("count", 0)}
        best[r["key"]]["count"] += 1
    return sorted(best.values(), key=lambda r: r["key"])


def summary(failures: list[dict]) -> str:
    lines = [f"{len(failures)} distinct failures of generated input (reproduce: cd to an empty folder, create the "
             "files, run the command):"]
    for i, f in enumerate(failures, 1):
        env = " ".join(f"{k}={_quote(v)}" for k, v in f["env"].items())
        lines.append(f"\n[{i}] {f['kind']} ({f['count']}x) at {f['key']}")
        lines.append(f"    {env + ' ' if env else ''}ganzoo {' '.join(_quote(a) for a in f['argv'])}")
        lines.extend(f"    file {line}" for line in f["files"])
        lines.append(f"    -> {f['last_line'][:400]}")
    return "\n".join(lines)


def _quote(text: str) -> str:
    return text if re.fullmatch(r"[\w./:=,+@%$-]+", text) else repr(text)


# -- the child: fixtures, the memory cap, the hypothesis run -----------------------------------------------------------
class ExampleTimeout(BaseException):
    """Raised by SIGALRM in the example that runs too long (a BaseException: ganzoo must not turn it into an error)."""


def worker(root: Path, skip: int) -> None:
    import torch
    import torchvision  # noqa: F401 — imported before the cap is measured: lazily imported by the commands
    import PIL.Image  # noqa: F401
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from hypothesis import strategies as st

    from ganzoo.cli import main

    torch.set_num_threads(1)
    fx = Fixtures(root / "fixtures", main)
    _cap_memory()
    gen = Grammar(fx, st)
    failures = open(root / "failures.jsonl", "a")
    state = {"index": 0, "run": 0}
    seen: set[str] = set()
    done: set[str] = set()
    work = root / "work"

    budget = int(os.environ.get("GANZOO_FUZZ_EXAMPLES", "150"))

    @settings(max_examples=20 * budget, deadline=None, database=None,
              derandomize=not os.environ.get("GANZOO_FUZZ_SEED"), phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
    @given(st.data())
    def examples(data: Any) -> None:
        index = state["index"]
        state["index"] += 1
        ex = work / f"ex{index:05d}"
        shutil.rmtree(ex, ignore_errors=True)
        ex.mkdir(parents=True)
        try:
            maker = Maker(ex, fx)
            argv, env = gen.example(data.draw, maker)
            if state["run"] >= budget:  # raised after the draws: hypothesis replays it and must see the same draws
                raise StopFuzz
            signature = json.dumps([maker.show(argv), env, maker.notes], sort_keys=True, default=str)
            # Run each example once, and not hypothesis's mutations (an example with one part pasted over another:
            # near-duplicates). They are still drawn: hypothesis requires the same draws for the same choices.
            if signature in done or _mutating():
                return
            done.add(signature)
            state["run"] += 1
            if index < skip:
                return
            record = {"index": index, "argv": maker.show(argv), "files": maker.notes, "started": time.time(),
                      "env": {k: maker.show([v])[0] for k, v in env.items()}}
            _atomic_json(root / "current.json", record)
            before, top = _listing(ex), set(os.listdir("/"))
            found, outcome = run_example(main, argv, env, ex)
            with open(root / "examples.jsonl", "a") as f:  # every example and how it ended, to tune the grammar
                f.write(json.dumps({"index": index, "rate": gen.rate, "argv": record["argv"], "env": record["env"],
                                    **outcome}) + "\n")
            if set(os.listdir("/")) - top:  # a path escaped the example's folder (this harness keeps them inside)
                found.append(("wrote outside", f"wrote {sorted(set(os.listdir('/')) - top)} into /", "", ""))
            for kind, key, last, detail in found:
                entry = dict(record, kind=kind, key=key, last_line=last, detail=detail)
                if key not in seen and kind in SHRINKABLE and SHRINK_SECONDS > 0:
                    small_argv, small_env, last_found = shrink(lambda a, e: run_example(main, a, e, ex, before)[0],
                                                               argv, env, key)
                    if last_found:
                        entry.update(last_line=last_found[2], detail=last_found[3])
                    shown = maker.show(small_argv + [v for v in small_env.values() if v])
                    entry.update(argv=maker.show(small_argv), env={k: maker.show([v])[0] for k, v in small_env.items()},
                                 files=[n for n in maker.notes if any(_names(n.split(": ")[0], a) for a in shown)])
                seen.add(key)
                failures.write(json.dumps(entry) + "\n")
                failures.flush()
            kept = root / "kept"
            if found and (not kept.exists() or len(list(kept.iterdir())) < 200):
                kept.mkdir(exist_ok=True)
                shutil.move(str(ex), kept / ex.name)
        finally:
            shutil.rmtree(ex, ignore_errors=True)

    if os.environ.get("GANZOO_FUZZ_SEED"):
        examples = seed(int(os.environ["GANZOO_FUZZ_SEED"]))(examples)
    try:
        examples()
    except StopFuzz:  # the budget of examples is spent
        pass
    except BaseException:  # a bug of this harness (not of ganzoo): the parent stops and shows it
        (root / "harness-error.txt").write_text(traceback.format_exc())
        raise
    finally:
        failures.close()
    (root / "done").write_text("ok")


class StopFuzz(Exception):
    """Ends the hypothesis run once GANZOO_FUZZ_EXAMPLES distinct examples have run."""


def _mutating() -> bool:
    """True inside hypothesis's mutation step (engine internals; if they change, every example simply runs)."""
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code.co_name == "generate_mutations_from":
            return True
        frame = frame.f_back
    return False


def _cap_memory() -> None:
    """Cap the address space at what this warmed-up process maps plus GANZOO_FUZZ_MEMORY_GB."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return  # no /proc: only the ru_maxrss growth check holds
    peak = int(re.search(r"VmPeak:\s*(\d+) kB", status).group(1)) * 1024
    limit = peak + int(MEMORY_GB * 2**30)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))


def _atomic_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj))
    os.replace(tmp, path)


# -- running and judging one example ----------------------------------------------------------------------------------
def run_example(main: Callable, argv: list[str], env: dict[str, str | None], cwd: Path,
                listing: set[str] | None = None) -> tuple[list[tuple], dict]:
    """Run ``ganzoo ARGV`` in-process: the failures as (kind, key, last line, detail), and how it ended.

    ``listing``: remove what is in ``cwd`` but not in this listing first (what an earlier run wrote).
    """
    if listing is not None:
        _restore(cwd, listing)
    import torch
    import torch.distributed
    from ganzoo import registry

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_signals = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    out_buf, err_buf = io.BytesIO(), io.BytesIO()
    # What a process has under a UTF-8 locale such as en_US.UTF-8 (not C.UTF-8, where Python relaxes stdout to
    # surrogateescape): a stdout that refuses lone surrogates (from undecodable bytes in argv, paths or the
    # environment), a stderr that escapes them. Reproduce a failure of this kind with PYTHONIOENCODING=utf-8:strict.
    out = io.TextIOWrapper(out_buf, encoding="utf-8", errors="strict", write_through=True)
    err = io.TextIOWrapper(err_buf, encoding="utf-8", errors="backslashreplace", write_through=True)
    rss_before, started = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.time()
    rc, exc_text, exc = None, "", None
    plugins_env = "GANZOO_DISABLE_PLUGINS" in env
    try:
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        os.chdir(cwd)
        if plugins_env:
            registry.reset()
        signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, TIMEOUT, 5.0)
        faulthandler.dump_traceback_later(TIMEOUT + 30, exit=True)  # stuck in C code, where SIGALRM cannot act
        import warnings
        with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            warnings.simplefilter("default")
            rc = main(list(argv))
    except SystemExit as e:
        rc = 0 if e.code is None else e.code
    except BaseException as e:  # noqa: BLE001 — everything else is what the fuzz looks for
        exc = e
        exc_text = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        faulthandler.cancel_dump_traceback_later()
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        for s, h in saved_signals.items():
            signal.signal(s, h)
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        if plugins_env:
            registry.reset()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        torch.set_num_threads(1)
        torch.set_default_dtype(torch.float32)
        torch.set_grad_enabled(True)
    lost = _clear_consoles()
    stdout = out_buf.getvalue().decode("utf-8", "replace")
    stderr = err_buf.getvalue().decode("utf-8", "replace")
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 2**20  # GiB (ru_maxrss is in KiB)
    outcome = {"rc": rc if exc is None else type(exc).__name__, "seconds": round(time.time() - started, 2),
               "last": _last_line(exc_text or stderr or stdout)[:300]}
    found = judge(argv, rc, exc, exc_text, stdout, stderr, grown)
    if lost and not any(isinstance(e, UnicodeEncodeError) for e in _chain(exc)):
        command = " ".join(argv[:2]) if argv[:1] == ["evaluator"] else (argv[0] if argv else "")
        found.append(("lost output", f"{command}: rich kept unwritten output ({lost})", lost, stdout[-500:]))
    return found, outcome


def _chain(exc: BaseException | None) -> list[BaseException]:
    out = []
    while exc is not None and exc not in out:
        out.append(exc)
        exc = exc.__context__
    return out


def _clear_consoles() -> str:
    """Empty the buffers of ganzoo's rich consoles; what was left in them (rich keeps what it failed to write, e.g.
    a lone surrogate for a UTF-8 stdout, and writes it again with the next print: of the next example here)."""
    from ganzoo.console import console, err_console

    left = []
    for name, c in (("stdout", console), ("stderr", err_console)):
        if c._buffer:
            left.append(f"{name}: {''.join(seg.text for seg in c._buffer)[:120]!r}")
            del c._buffer[:]
        c._buffer_index = 0
    return "; ".join(left)


# -- shrinking a failure (greedy: drop environment variables, then argument groups, while the failure stays) -----------
SHRINKABLE = ("exception", "multi-line error", "silent error", "memory", "traceback printed", "exit code")
SHRINK_SECONDS = float(os.environ.get("GANZOO_FUZZ_SHRINK_SECONDS", "20"))
BUDGET_FLAGS = {"--steps", "--minutes", "--epochs", "--n-eval", "--eval-every", "--seeds", "--n"}


def shrink(run: Callable, argv: list[str], env: dict[str, str | None], key: str) -> tuple[list[str], dict, tuple]:
    """The smallest argv and environment found (within SHRINK_SECONDS) that still fail with ``key``, and that
    failure's (kind, key, last line, detail), empty when no smaller example failed the same way."""
    deadline, final = time.time() + SHRINK_SECONDS, []

    def same(a: list[str], e: dict) -> bool:
        if time.time() >= deadline:
            return False
        hit = [f for f in run(a, e) if f[1] == key]
        if hit:
            final[:] = hit[0]
        return bool(hit)

    for name in list(env):
        smaller = {k: v for k, v in env.items() if k != name}
        if same(argv, smaller):
            env = smaller
    head = 2 if argv[:1] == ["evaluator"] else 1

    def kept(i: int) -> bool:  # the budget flags stay (without them a command could train for minutes)
        return (argv[i] in BUDGET_FLAGS or argv[i - 1] in BUDGET_FLAGS or argv[i] == "train.sample_every=0"
                or argv[i:i + 2] == ["--set", "train.sample_every=0"])

    i = len(argv) - 1
    while i >= head and time.time() < deadline:
        for width in (2, 1):
            if i + width <= len(argv) and not any(kept(j) for j in range(i, i + width)):
                smaller = argv[:i] + argv[i + width:]
                if same(smaller, env):
                    argv = smaller
                    break
        i -= 1
    return argv, env, tuple(final)


def _names(path: str, text: str) -> bool:
    """True when ``text`` holds ``path`` as a whole path or a folder above one."""
    return re.search(re.escape(path) + r"(?![\w.])", text) is not None


def _listing(folder: Path) -> set[str]:
    out = set()
    for top, dirs, files in os.walk(folder):
        out.update(os.path.join(top, n) for n in dirs + files)
    return out


def _restore(folder: Path, listing: set[str]) -> None:
    for top, dirs, files in os.walk(folder, topdown=True):
        for n in list(dirs):
            path = os.path.join(top, n)
            if path not in listing:
                dirs.remove(n)
                if os.path.islink(path):
                    os.unlink(path)
                else:
                    shutil.rmtree(path, ignore_errors=True)
        for n in files:
            path = os.path.join(top, n)
            if path not in listing:
                os.unlink(path)


def _alarm(signum: int, frame: Any) -> None:
    raise ExampleTimeout(f"no result after {TIMEOUT:.0f} s")


def judge(argv: list[str], rc: Any, exc: BaseException | None, exc_text: str, stdout: str, stderr: str,
          grown_gib: float) -> list[tuple]:
    command = " ".join(argv[:2]) if argv[:1] == ["evaluator"] else (argv[0] if argv else "")
    found = []
    if exc is not None:
        kind = "timeout" if isinstance(exc, ExampleTimeout) else "exception"
        last = f"{type(exc).__name__}: {_last_line(str(exc))}"
        if kind == "exception" and any(w in exc_text.lower() for w in MEMORY_WORDS):
            kind = "memory"
        where = _where(exc.__traceback__)
        if kind == "timeout":  # keyed by the command's own frame (the innermost varies); the last line says more
            where = _where(exc.__traceback__, outermost_command=True)
            last += f" (in {_where(exc.__traceback__)}, waiting in {_where(exc.__traceback__, innermost=True)})"
        found.append((kind, f"{type(exc).__name__} at {where}", last, exc_text[-3000:]))
    else:
        if rc not in (0, 2):
            found.append(("exit code", f"exit {rc!r} from {command}", f"exit code {rc!r}", stderr[-2000:]))
        lines = _lines(stderr)
        if rc == 2 and lines and not _is_error(lines[-1]):
            found.append(("multi-line error", f"{command}: {_shape(lines[-1])}", lines[-1],
                          "\n".join(lines[-10:])))
        if rc == 2 and not lines and "usage:" not in stdout:
            found.append(("silent error", f"{command}: exit 2 with nothing on stderr", "(no error printed)",
                          stdout[-500:]))
        text = "\n".join(lines).lower()
        if any(w in text for w in MEMORY_WORDS):
            found.append(("memory", f"{command}: {_shape(lines[-1])}", lines[-1], "\n".join(lines[-10:])))
    if "Traceback" in stdout or "Traceback" in stderr:
        tb = (stderr if "Traceback" in stderr else stdout).split("Traceback")[-1]
        found.append(("traceback printed", f"{command}: {_shape(_last_line(tb))}", _last_line(tb),
                      ("Traceback" + tb)[-3000:]))
    if grown_gib > MEMORY_GB * 0.8:
        found.append(("memory", f"{command}: peak RSS grew by {grown_gib:.1f} GiB", f"RSS +{grown_gib:.1f} GiB", ""))
    return found


def _is_error(line: str) -> bool:
    return line.startswith("error:") or bool(re.match(r"^ganzoo[\w -]*: error: ", line))


def _lines(text: str) -> list[str]:
    """The non-blank lines, split at newlines only (``str.splitlines`` also splits at \\x1c-\\x1e, \\x85, \\u2028:
    characters that a generated argument may hold and that a terminal does not break lines at)."""
    return [line for line in text.replace("\r\n", "\n").split("\n") if line.strip()]


def _last_line(text: str) -> str:
    lines = _lines(text)
    return lines[-1] if lines else ""


def _where(tb: Any, innermost: bool = False, outermost_command: bool = False) -> str:
    """The innermost frame in ganzoo's code (or the innermost of all, or the sub-command's) as path:line in function."""
    frames = [f for f in traceback.extract_tb(tb) if f.filename != __file__] or traceback.extract_tb(tb)
    ours = [f for f in frames if f.filename.startswith(OWN_FILES)]
    commands = [f for f in ours if f.filename.startswith(str(REPO / "ganzoo" / "commands"))]
    f = frames[-1] if innermost or not ours else commands[0] if outermost_command and commands else ours[-1]
    name = os.path.relpath(f.filename, REPO) if f.filename.startswith(str(REPO)) else f.filename
    return f"{name}:{f.lineno} in {f.name}"


def _shape(line: str) -> str:
    """A message with its numbers, paths and quoted parts blanked: the same bug with other input reads the same."""
    line = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", line)
    line = re.sub(r"\S*/\S*", "PATH", line)
    return re.sub(r"\d+(\.\d+)?", "N", line)[:120]


# -- generated files -------------------------------------------------------------------------------------------------
class Fixtures:
    """What examples start from: two trained run folders, their checkpoints, an evaluator file and zoo.yaml."""

    def __init__(self, folder: Path, main: Callable) -> None:
        import torch
        import yaml
        from ganzoo.config import default_zoo_path

        self.folder = folder
        self.gan, self.cgan = folder / "gan-run", folder / "cgan-run"
        runs = {self.gan: ["gan", "--steps", "2", "--set", "gan.g_widths=[16]", "--set", "gan.d_widths=[16]"],
                self.cgan: ["cgan", "--steps", "1", "--set", "cgan.g_channels=4", "--set", "cgan.d_channels=4"]}
        self.recipes = {run.name.split("-")[0]: " ".join(args) for run, args in runs.items()}
        for run, args in runs.items():
            if not (run / "checkpoints").is_dir():
                shutil.rmtree(run, ignore_errors=True)
                with contextlib.redirect_stdout(io.StringIO()):
                    assert main(["train", *args, "--quiet", "--set", "train.sample_every=0", "--out", str(run)]) == 0
        if not (folder / "warm").exists():  # the real statistics of the default evaluator, cached once
            with contextlib.redirect_stdout(io.StringIO()):
                assert main(["eval", str(self.gan), "--n", "65"]) == 0
            (folder / "warm").write_text("ok")
        ckpt = sorted((self.gan / "checkpoints").glob("step-*.pt"))[-1]
        self.checkpoint = torch.load(ckpt, weights_only=True)
        self.evaluator = torch.load(REPO / "ganzoo" / "assets" / "mnist-cnn.pt", weights_only=True)
        self.zoo = yaml.safe_load(default_zoo_path().read_text())
        self.checkpoint_paths = sorted(_paths(self.checkpoint))
        self.evaluator_paths = sorted(_paths({k: v for k, v in self.evaluator.items() if k != "state_dict"}))
        self.zoo_paths = sorted(_paths(self.zoo))


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of nested dicts (lists and tensors are leaves)."""
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(k, str):
                out.extend(_paths(v, prefix + (k,)))
    return out


def _mutate(obj: Any, mutations: list[tuple]) -> Any:
    obj = copy.deepcopy(obj)
    for path, op, value in mutations:
        parent = obj
        for k in path[:-1]:
            if not isinstance(parent, dict) or k not in parent:
                break
            parent = parent[k]
        else:
            if isinstance(parent, dict):
                if op == "delete":
                    parent.pop(path[-1], None)
                else:
                    parent[path[-1]] = _junk(value)
    return obj


def _junk(value: Any) -> Any:
    """A junk value spec as a Python object (tensors are built here: hypothesis draws plain data)."""
    import torch

    if isinstance(value, tuple) and value and value[0] == "tensor":
        _, shape, dtype = value
        return torch.zeros(shape, dtype=getattr(torch, dtype))
    if isinstance(value, tuple) and value and value[0] == "nested":
        inner: Any = 0
        for _ in range(value[1]):
            inner = [inner]
        return inner
    return value


def _png_size(data: bytes) -> str:
    """"PNG W×H" when ``data`` starts like a PNG with its header chunk, else ""."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return f"PNG {int.from_bytes(data[16:20], 'big')}×{int.from_bytes(data[20:24], 'big')}"
    return ""


def png(width: int, height: int, mode: str = "L", body: bytes | None = None) -> bytes:
    """A PNG file of the given header; ``body`` None: a real zero image (small sizes only), else that IDAT data."""
    colour = {"L": (0, 1), "RGB": (2, 3), "RGBA": (6, 4), "LA": (4, 2)}[mode]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    if body is None:  # row by row: a 14000×14000 image compresses to 200 kB without 196 MB in memory
        packer, row = zlib.compressobj(9), b"\0" + bytes(width * colour[1])
        body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, colour[0], 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


class Maker:
    """Turns drawn file specs into files in the example's folder, and notes what each holds (for the report)."""

    def __init__(self, folder: Path, fx: Fixtures) -> None:
        self.folder, self.fx, self.notes, self.n = folder, fx, [], 0

    def show(self, items: list[str]) -> list[str]:
        return [item.replace(str(self.folder), "$EX") for item in items]

    def _new(self, suffix: str = "") -> Path:
        self.n += 1
        return self.folder / f"f{self.n}{suffix}"

    def note(self, path: Path, what: str) -> None:
        self.notes.append(f"$EX/{path.relative_to(self.folder)}: {what[:300]}")

    def make(self, spec: tuple) -> str:
        """The path for ``spec`` (created when it names a file or folder)."""
        import torch
        import yaml

        kind, *args = spec
        if kind == "literal":
            return args[0]
        if kind == "missing":
            return str(self.folder / "missing" / args[0])
        if kind == "dir":
            path = self._new()
            path.mkdir()
            self.note(path, "an empty folder")
            return str(path)
        if kind == "devnull":
            return "/dev/null"
        if kind == "fifo":
            path = self._new(args[0])
            os.mkfifo(path)
            self.note(path, "a FIFO nobody writes to")
            return str(path)
        if kind == "sparse":
            path = self._new(args[0])
            with open(path, "wb") as f:
                f.truncate(5 * 2**30)
            self.note(path, "a sparse 5 GiB file of zeros (truncate -s 5G)")
            return str(path)
        if kind == "under-file":
            path = self._new()
            path.write_text("x")
            self.note(path, "a regular file (the path names something under it)")
            return str(path / "x")
        if kind == "loop":
            path = self._new(args[0])
            os.symlink(path.name, path)
            self.note(path, "a symlink to itself")
            return str(path)
        if kind == "bytes":
            path = self._new(args[0])
            path.write_bytes(args[1])
            self.note(path, f"bytes {args[1][:60]!r}{'…' if len(args[1]) > 60 else ''} ({len(args[1])} bytes)")
            return str(path)
        if kind == "text":
            path = self._new(args[0])
            path.write_text(args[1], encoding="utf-8", errors="surrogateescape")
            self.note(path, f"text {args[1]!r}")
            return str(path)
        if kind == "yaml":
            path = self._new(".yaml")
            text = yaml.safe_dump(args[0], allow_unicode=True)
            path.write_text(text, encoding="utf-8", errors="surrogateescape")
            self.note(path, f"yaml {text!r}")
            return str(path)
        if kind == "zoo":  # zoo.yaml with mutations
            path = self._new(".yaml")
            data = _mutate(self.fx.zoo, args[0])
            path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8", errors="surrogateescape")
            self.note(path, f"the zoo's zoo.yaml with {_describe(args[0])}")
            return str(path)
        if kind in ("checkpoint", "evaluator", "torch"):
            path = self._new(".pt")
            base = {"checkpoint": self.fx.checkpoint, "evaluator": self.fx.evaluator}.get(kind, {})
            obj = _mutate(base, args[0]) if kind != "torch" else _junk(args[0])
            torch.save(obj, path)
            what = {"checkpoint": "the fixture gan checkpoint", "evaluator": "ganzoo/assets/mnist-cnn.pt"}
            self.note(path, f"torch.save of {what[kind]} with {_describe(args[0])}" if kind != "torch"
                      else f"torch.save({_short(obj)})")
            return str(path)
        if kind == "run":  # a run folder: a copy of a fixture run, maybe with junk checkpoints, or only those
            path = self._new()
            variant, junk = args[0], (args[1] if len(args) > 1 else [])
            if variant.startswith(("gan", "cgan")):
                name = variant.rstrip("+-")
                shutil.copytree(self.fx.gan if name == "gan" else self.fx.cgan, path)
                what = f"a copy of the run folder of 'ganzoo train {self.fx.recipes[name]}'"
                if variant.endswith("-"):
                    shutil.rmtree(path / "checkpoints")
                    what += " without its checkpoints"
            else:
                what = "a folder"
            (path / "checkpoints").mkdir(parents=True, exist_ok=True)
            first, parts = len(self.notes), []
            for i, inner in enumerate(junk):
                made = Path(self.make(inner))
                name = f"checkpoints/step-{10 + i:08d}.pt"
                if os.path.lexists(made) and made.parent == self.folder:
                    os.replace(made, path / name)
                    parts.append(name + " = " + next((n.split(": ", 1)[1] for n in self.notes[first:]
                                                      if n.startswith(f"$EX/{made.name}: ")), made.name))
            del self.notes[first:]
            self.note(path, what + (" with " + "; ".join(parts) if parts else ""))
            return str(path)
        if kind == "images":  # an image folder: {class: [image specs]}
            path = self._new()
            path.mkdir()
            for cls, images in args[0].items():
                (path / cls).mkdir(exist_ok=True)
                for i, (name, data) in enumerate(images):
                    (path / cls / f"{i}{name}").write_bytes(data)
            self.note(path, "image folder " + "; ".join(f"{c}/: " + ", ".join(
                f"{ims.count((n, d))}× {n or 'no suffix'} ({len(d)} B{', ' + _png_size(d) if _png_size(d) else ''})"
                for n, d in dict.fromkeys(ims)) for c, ims in args[0].items()))
            return str(path)
        if kind == "data-root":  # torchvision's layout with junk files
            path = self._new()
            folder = path / args[0]
            folder.mkdir(parents=True)
            for name, data in args[1]:
                (folder / name).write_bytes(data)
            self.note(path, f"data root: {args[0]}/ with " + ", ".join(f"{n} ({len(d)} B)" for n, d in args[1]))
            return str(path)
        if kind == "cache":  # a cache folder holding junk where ganzoo keeps its files
            path = self._new()
            for rel, data in args[0]:
                (path / rel).parent.mkdir(parents=True, exist_ok=True)
                (path / rel).write_bytes(data)
            self.note(path, "cache folder with " + ", ".join(f"{r} ({len(d)} B: {d[:20]!r})" for r, d in args[0]))
            return str(path)
        if kind == "out":  # an output path
            variant = args[0]
            if variant == "file":
                path = self._new(args[1])
                path.write_text("keep me")
                self.note(path, "an existing regular file")
                return str(path)
            if variant == "name":
                return str(self.folder / args[1])
            return str(self.folder / "o" / args[1])
        raise AssertionError(spec)


def _describe(mutations: list[tuple]) -> str:
    return "; ".join(f"{'.'.join(map(str, p))} {'deleted' if op == 'delete' else '= ' + _short(_junk(v))}"
                     for p, op, v in mutations) or "no change"


def _short(obj: Any) -> str:
    text = " ".join(repr(obj).split())
    return text if len(text) < 120 else text[:117] + "…"


# -- the grammar ------------------------------------------------------------------------------------------------------
class Grammar:
    """Strategies for every sub-command's argument list, its files and the environment."""

    def __init__(self, fx: Fixtures, st: Any) -> None:
        self.fx, self.st = fx, st
        text_chars = st.characters(exclude_characters="\x00")
        odd = ["", " ", "-", "--", "-x", "\udcff", "é", "名前", "a" * 300, "../x", "./x", "x/y", "*", "[", "?",
               "\n", "a\nb", "$HOME", "~", "\x01", "NaN", "None", "null", "[]", "{}", "'", "&a", "*a", "!!python/none"]
        # Never an absolute path or "..": a text may end up as a path that is written to (a run, an evaluator name).
        self.text = st.one_of(st.sampled_from(odd), st.text(text_chars, max_size=12).filter(
            lambda t: not t.startswith("/") and ".." not in t))
        big = [str(2**31), str(2**63), str(2**64), str(-2**63 - 1), str(10**12), "9" * 400, "9" * 5000]
        self.int_junk = st.one_of(st.sampled_from(["0", "-1", "-2", *big, "1e3", "1.5", "nan", "inf", "", " ",
                                                   "0x10", "1_0", "٣", "１", "+1", "-0", "007", "abc"]),
                                  st.integers(-2**70, 2**70).map(str))
        self.seed_junk = st.one_of(st.sampled_from([str(2**63), str(2**64), "-1", str(-2**63 - 1), str(2**100)]),
                                   self.int_junk)
        # Junk counts with no legitimately slow value among them (``--batch-size 1`` or ``--n 100000`` are valid).
        self.int_bad = st.one_of(st.sampled_from(["0", "-1", "-2", *big, "1e3", "1.5", "nan", "inf", "", " ", "0x10",
                                                  "abc", "-0"]),
                                 st.integers(max_value=0).map(str), st.integers(min_value=2**31).map(str))
        self.floats = st.sampled_from(["nan", "inf", "-inf", "-1", "0", "-0.0", "1e-300", "1e308", "1e309",
                                       "0.0005", "abc", "", "1/2", "0x1p-3", " 1 ", "1e-3", "-1e-9"])
        self.devices = st.sampled_from(
            ["auto", "cpu", "cuda", "cuda:0", "cuda:99", "meta", "mps", "xpu", "", "cpu:0", "cpu:1", "CUDA", "gpu",
             "cuda:-1", "cuda:x", "vulkan", "hpu", "lazy", "mkldnn", "ipu", "cpu,cuda", " cpu", "privateuseone",
             "mtia", "xla", "fpga", "maia", "cuda:0:0", "\udcff", "auto:0", "cpu:-1", str(2**64)])
        self.models = st.one_of(st.sampled_from(["gan", "cgan", "acgan", "dcgan", "vae", "GAN", "gan ", "nope",
                                                 "", "../gan", "gan.py", "*"]), self.text)
        self.datasets = st.one_of(st.sampled_from(["mnist-embedded", "mnist", "fashion-mnist", "cifar10", "celeba",
                                                   "imagefolder", "MNIST-embedded", "nope", ""]), self.text)
        junk_values = [None, True, -1, 0, 1, 2**64, 10**9, -10**9, math.nan, math.inf, -math.inf, 1e308, "", "x",
                       "\udcff", [], {}, [10**9], [-1], [0], [[1]], {"a": 1}, [1, "x"], 0.5, ("nested", 200),
                       ("tensor", [3], "float32"), ("tensor", [0], "float32"), ("tensor", [2, 2], "int64"),
                       ("tensor", [], "float32"), ("tensor", [1000, 1000], "uint8"), [1, 28], [1, 28, 28, 1],
                       [0, 28, 28], [3, 100000, 100000], [1, -28, 28], -5, "gan", "nope", 10**6, "1,28,28"]
        self.junk = st.sampled_from(junk_values)
        set_keys = ["train.steps", "train.sample_every", "train.checkpoint_every", "train.keep_checkpoints",
                    "train.log_every", "train.sample_grid", "train.data_placement", "train.dataset_options",
                    "train.dataset", "train.seed", "gan.g_widths", "gan.d_widths", "gan.lr_g", "gan.loss",
                    "gan.batch_size", "gan.latent_dim", "gan.ema_half_life", "gan.ema_decay", "gan.critic_steps",
                    "gan.augment", "gan.regularizers", "gan.nope", "models.gan", "models", "train", "vae.channels",
                    "cgan.g_channels", "dcgan.g_channels", "metrics.n_eval", "metrics.prdc_k",
                    "metrics.kid_subset_size", "metrics.kid_subsets", "metrics.is_splits", "metrics.batch_size",
                    "metrics.prdc_samples", "metrics.n_real", "metrics.evaluator", "metrics.seed", "bench.suite",
                    "bench.suites.quick.models", "bench.suites.quick.steps", "bench.suites.default.n_eval",
                    "datasets.mnist-embedded.evaluator", "datasets.nope.evaluator", "nope.x", "x"]
        set_values = ["0", "-1", "1", "2", "1e309", ".nan", ".inf", "-.inf", "[]", "{}", "[1,2", "null", "~",
                      "true", str(2**64), "100000000", "[100000000]", "[0]", "[-1]", "abc", "'", "&a", "*a",
                      "!!python/object:os.system", "[gan, gan]", "{a: 1}", "é", "", "1e-300", "0.5", "nope",
                      "inception-v3", "mnist-cnn", "wgan-gp", "hinge", "translation", "[r1]", "stream", "device"]
        self.kv = st.one_of(
            st.builds(lambda k, v: f"{k}={v}", st.one_of(st.sampled_from(set_keys), self.text),
                      st.one_of(st.sampled_from(set_values), self.text)),
            st.sampled_from(["=", "=1", "a=", "a==b", ".=1", "a..b=1", "train.=1", "train.steps", "junk"]),
            self.text)
        self.good_models = st.sampled_from(["gan", "gan", "vae", "cgan", "dcgan", "acgan"])
        self.good_sets = st.sampled_from(["train.sample_every=0", "gan.lr_g=1e-4", "train.log_every=1",
                                          "train.checkpoint_every=1", "train.keep_checkpoints=1", "gan.loss=hinge",
                                          "gan.ema_decay=0.9", "gan.augment=translation", "gan.regularizers=[r1]",
                                          "gan.g_widths=[8]", "vae.channels=4", "metrics.prdc_samples=0",
                                          "train.data_placement=stream", "metrics.kid_subset_size=10"])
        self.good_runs = st.sampled_from([("run", "gan"), ("run", "gan"), ("run", "cgan")])
        tiny = [(".png", png(8, 8, "L")), (".png", png(8, 8, "RGB"))] * 35
        self.good_images, self.tiny = st.just(("images", {"a": tiny, "b": tiny})), tiny
        self.big_images = [png(14000, 14000), png(9000, 9000), png(3000, 3000, "RGB")]  # real, all-black pixels
        opt_keys = ["classes", "split", "attribute", "image_size", "channels", "junk", "path"]
        opt_values = ["train", "test", "valid", "all", "x", "0", "-1", "1", "2", "3", "100000", str(2**64), "[1,2]",
                      "[0,1]", "[]", "{}", "null", "Blond_Hair", "[99]", "[-1]", "1.5", ".nan"]
        self.data_option = st.one_of(
            st.builds(lambda k, v: f"{k}={v}", st.one_of(st.sampled_from(opt_keys), self.text),
                      st.one_of(st.sampled_from(opt_values), self.text)), self.text)

    # -- files ----------------------------------------------------------------------------------------------------
    def common_paths(self, suffix: str) -> Any:
        st = self.st
        return st.one_of(
            st.tuples(st.just("missing"), st.sampled_from(["x" + suffix, "a/b" + suffix])),
            st.just(("dir",)), st.just(("devnull",)), st.just(("fifo", suffix)), st.just(("sparse", suffix)),
            st.just(("under-file",)), st.just(("loop", suffix)),
            st.tuples(st.just("bytes"), st.just(suffix), st.binary(max_size=200)),
            # Never "/" or a system folder: GANZOO_CACHE is written to, and an image folder is walked.
            st.tuples(st.just("literal"), st.sampled_from(["", ".", "..", "~", "/proc/self/mem", "/dev/zero",
                                                           "/proc/self/fd/0", "\udcff"])))

    def config_file(self) -> Any:
        st = self.st
        keys = st.one_of(st.sampled_from(["train", "models", "bench", "metrics", "datasets", "gan", "steps",
                                          "suites", "default", "evaluator", "g_widths", "n_eval", "suite"]),
                         st.text(max_size=8))
        scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12))
        values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                               st.dictionaries(keys, inner, max_size=4)),
                              max_leaves=15)
        sections = st.sampled_from(["train", "models", "bench", "metrics", "datasets"])
        zoo_mutation = st.tuples(st.sampled_from(self.fx.zoo_paths), st.sampled_from(["set", "set", "delete"]),
                                 self.junk.filter(lambda v: not (isinstance(v, tuple) and v[0] == "tensor")))
        bomb = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
            f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
        return st.one_of(
            st.tuples(st.just("yaml"), st.dictionaries(keys, values, max_size=5)),
            st.tuples(st.just("yaml"), st.dictionaries(sections, st.dictionaries(keys, values, max_size=3),
                                                       min_size=1, max_size=2)),
            st.tuples(st.just("zoo"), st.lists(zoo_mutation, min_size=1, max_size=3)),
            st.tuples(st.just("text"), st.just(".yaml"), st.one_of(
                st.text(st.characters(exclude_characters="\x00"), max_size=200),
                st.sampled_from(["", "null", "- 1", "datasets:", "datasets: {}", "datasets: []", "train: 3",
                                 "bench: {suites: {default: {}}}", "metrics: {prdc_k: 1000000}", bomb,
                                 "[" * 5000 + "]" * 5000, "a: " + "{a: " * 2000 + "1" + "}" * 2000,
                                 "!!python/object/apply:os.system ['true']", "train: !!binary AAAA",
                                 "x: 1\nx: 2", "\ufeffdatasets:", "models: {gan: {g_widths: [100000000]}}",
                                 "train: {steps: 1}\ndatasets: {mnist-embedded: {evaluator: nope}}"]))),
            st.tuples(st.just("bytes"), st.just(".yaml"), st.binary(max_size=100)),
            self.common_paths(".yaml"))

    def checkpoint_file(self) -> Any:
        st = self.st
        config = [p for p in self.fx.checkpoint_paths if p[0] == "config"]
        hot = [("config", "image_shape"), ("config", "num_classes"), ("config", "model"), ("config", "hparams"),
               ("config",), ("step",), ("state",), ("config", "class_names"), ("format",), ("version",)]
        mutation = st.tuples(st.one_of(st.sampled_from(hot), st.sampled_from(config),
                                       st.sampled_from(self.fx.checkpoint_paths)),
                             st.sampled_from(["set", "set", "delete"]), self.junk)
        mutated = st.tuples(st.just("checkpoint"), st.lists(mutation, min_size=1, max_size=3))
        return st.one_of(
            mutated, mutated,
            st.tuples(st.just("torch"), st.one_of(self.junk, st.dictionaries(st.sampled_from(
                ["format", "version", "step", "config", "state", "x"]), self.junk, max_size=5))),
            st.tuples(st.just("bytes"), st.just(".pt"), st.one_of(st.binary(max_size=200), st.sampled_from([
                b"PK\x03\x04" + bytes(40), b"\x80\x02}q\x00.", b"\x80\x04\x95", b"PK\x05\x06" + bytes(18)]))),
            self.common_paths(".pt"))

    def evaluator_file(self) -> Any:
        st = self.st
        mutation = st.tuples(st.sampled_from(self.fx.evaluator_paths), st.sampled_from(["set", "set", "delete"]),
                             self.junk)
        return st.one_of(st.tuples(st.just("evaluator"), st.lists(mutation, min_size=1, max_size=3)),
                         self.checkpoint_file())

    def run_folder(self) -> Any:
        st = self.st
        return st.one_of(st.tuples(st.just("run"), st.sampled_from(["gan+", "gan-", "cgan+", "cgan-", "junk"]),
                                   st.lists(self.checkpoint_file(), min_size=1, max_size=2)),
                         st.just(("run", "junk", [])), self.checkpoint_file())

    def image(self) -> Any:
        st = self.st
        small = st.builds(png, st.integers(1, 8), st.integers(1, 8), st.sampled_from(["L", "RGB", "RGBA", "LA"]))
        header = st.builds(lambda w, h: png(w, h, "L", zlib.compress(b"")), st.sampled_from(
            [0, 1, 14000, 40000, 65535, 100000, 2**31 - 1]), st.sampled_from([1, 14000, 40000, 100000, 2**31 - 1]))
        return st.tuples(st.sampled_from([".png", ".jpg", ".gif", ".txt", ""]),
                         st.one_of(small, header, st.binary(max_size=100), st.just(b"\x89PNG\r\n\x1a\n"),
                                   st.sampled_from(self.big_images)))

    def image_folder(self) -> Any:
        st = self.st
        tiny = self.tiny  # a good folder with one more image
        return st.one_of(st.builds(lambda extra: ("images", {"a": tiny + [extra], "b": tiny}), self.image()),
                         st.tuples(st.just("images"), st.dictionaries(
            st.sampled_from(["a", "b", "c", ".hidden", "é"]), st.lists(self.image(), max_size=3), max_size=3)),
            self.common_paths(""))

    def data_root(self) -> Any:
        st = self.st
        mnist = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"]
        idx = st.one_of(st.binary(max_size=64), st.builds(
            lambda n, h, w: b"\x00\x00\x08\x03" + n.to_bytes(4, "big") + h.to_bytes(4, "big") + w.to_bytes(4, "big"),
            st.sampled_from([0, 1, 10**9, 2**32 - 1]), st.sampled_from([0, 28, 2**16]), st.sampled_from([0, 28])))
        cifar = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
                 "batches.meta"]
        return st.one_of(
            st.tuples(st.just("data-root"), st.just("MNIST/raw"), st.lists(st.tuples(st.sampled_from(mnist), idx),
                                                                            max_size=4, unique_by=lambda t: t[0])),
            st.builds(lambda data: ("data-root", "MNIST/raw", [(n, data) for n in mnist]), idx),
            st.builds(lambda data: ("data-root", "cifar-10-batches-py", [(n, data) for n in cifar]),
                      st.binary(max_size=64)),
            self.image_folder())

    def cache_dir(self) -> Any:
        st = self.st
        rel = st.sampled_from(["mnist-embedded-v1.pt", "evaluators/mnist-embedded-cnn.pt", "evaluators/x.pt",
                               "evaluators/mnist-cnn.pt", "real-stats/ff265961b1dfe59ee4d076b7f02bf7ce.pt",
                               "evaluators/x.json", "data"])
        return st.one_of(st.tuples(st.just("cache"), st.lists(st.tuples(rel, st.binary(max_size=64)), max_size=3)),
                         self.common_paths(""))

    def out_path(self, suffix: str) -> Any:
        st = self.st
        names = st.sampled_from([f"new{suffix}", f"a/b/c{suffix}", "runs", ".", "", "é" + suffix, "x" * 300,
                                 f"UPPER{suffix.upper()}", "a.npz", "a.png", "a.pt", "a.jpg", "dir/"])
        return st.one_of(st.tuples(st.just("out"), st.just("new"), names),
                         st.tuples(st.just("out"), st.just("file"), st.sampled_from([suffix, ".png", ".npz"])),
                         st.just(("dir",)), st.just(("fifo", suffix)), st.just(("under-file",)),
                         st.just(("loop", suffix)))

    # -- argument lists ------------------------------------------------------------------------------------------
    def example(self, draw: Callable, m: Maker) -> tuple[list[str], dict[str, str | None]]:
        """One argument list and environment. A share of the values (0%, 10%, 30% or all) is junk: few junk
        values reach deep into a command, many find the checks that run first."""
        st = self.st
        self.rate = draw(st.sampled_from([0, 0, 0, 5, 20, 100]))
        command = draw(st.sampled_from(["train", "eval", "sample", "bench", "evaluator fit", "info", "train",
                                        "list", "plugins", "datasets", "evaluator list", "new-plugin", "top", "train",
                                        "eval", "sample", "bench", "evaluator fit", "info", "translate"]))
        env = self.environment(draw, m, command)
        if command == "top":
            return draw(st.one_of(st.lists(self.text, max_size=3), st.sampled_from(
                [[], ["--version"], ["evaluator"], ["evaluator", "nope"], ["--json", "list"], ["-h"], ["help"]]))), env
        fixed, options, positional = getattr(self, "cmd_" + command.replace(" ", "_").replace("-", "_"))(draw, m)
        chosen = draw(st.lists(st.sampled_from(range(len(options))), max_size=5)) if options else []
        groups = [list(g) for g in fixed] + [options[i](draw, m) for i in chosen]
        if positional:
            groups.append(positional)
        argv = command.split() + [a for g in draw(st.permutations(groups)) for a in g]
        if self.rate and draw(st.integers(0, 19)) == 9:  # a stray token
            argv.insert(draw(st.integers(1, len(argv))), draw(st.one_of(self.text, st.sampled_from(
                ["--", "-", "--nope", "--json", "--steps"]))))
        return argv, env

    def environment(self, draw: Callable, m: Maker, command: str) -> dict[str, str | None]:
        st = self.st
        env: dict[str, str | None] = {}
        if draw(st.integers(0, 7)) == 3:
            env["GANZOO_CONFIG"] = m.make(draw(self.config_file()))
        if draw(st.integers(0, 9)) == 4:
            env["GANZOO_DATA"] = m.make(draw(self.data_root()))
        if draw(st.integers(0, 9)) == 4:
            env["GANZOO_CACHE"] = draw(st.one_of(st.just(""), st.builds(m.make, self.cache_dir())))
        if draw(st.integers(0, 14)) == 7:
            env["GANZOO_INCEPTION_WEIGHTS"] = m.make(draw(self.checkpoint_file()))
        if draw(st.integers(0, 24)) == 12:
            env["GANZOO_DISABLE_PLUGINS"] = draw(st.one_of(st.sampled_from(
                ["ganzoo", "gan", "datasets", "evaluators", "losses", "*", ",", " , ", "GAN"]), self.text))
        if command in ("train", "bench") and draw(st.integers(0, 19)) == 9:
            env["WORLD_SIZE"] = draw(st.sampled_from(["abc", "", "0", "-1", "1", "1.5", "2", str(2**64)]))
            env["RANK"] = draw(st.sampled_from(["0", "1", "-1", "x", ""]))
            env["LOCAL_RANK"] = draw(st.sampled_from(["0", "1", "x"]))
        return env

    def value(self, draw: Callable, m: Maker, good: Any, junk: Any = None, rate: int | None = None) -> str:
        """A good value, or (at the example's junk rate, or ``rate``) a junk one; file specs become files."""
        rate = self.rate if rate is None else rate
        wild = junk is not None and draw(self.st.integers(0, 99)) >= 100 - rate  # 0, the simplest draw: good
        value = draw(junk if wild else good)
        return m.make(value) if isinstance(value, tuple) else value

    def flag(self, name: str, good: Any, junk: Any = None) -> Callable:
        def make(draw: Callable, m: Maker) -> list[str]:
            value = self.value(draw, m, good, junk)
            form = draw(self.st.integers(0, 39)) if self.rate else 0  # mostly NAME VALUE; NAME=VALUE; NAME alone
            return [name] if form == 39 else [f"{name}={value}"] if form > 36 else [name, value]
        return make

    def switch(self, name: str) -> Callable:
        return lambda draw, m: [name]

    def good(self, *values: Any) -> Any:
        return self.st.sampled_from([str(v) if isinstance(v, int) else v for v in values])

    def cmd_list(self, draw: Callable, m: Maker) -> tuple:
        return [], [self.switch("--json")], draw(self.st.lists(self.text, max_size=1))

    cmd_datasets = cmd_list

    def cmd_plugins(self, draw: Callable, m: Maker) -> tuple:
        return [], [self.switch("--json")], None

    cmd_evaluator_list = cmd_plugins

    def cmd_info(self, draw: Callable, m: Maker) -> tuple:
        st = self.st
        shapes = st.one_of(st.sampled_from(
            ["0,0,0", "-1,28,28", "1,28", "1,28,28,28", "a,b,c", "", "1,100000,100000", "3,65536,65536",
             "1, 28, 28", "1,28,28,", "4,28,28", "2,28,28", "1,1,1", f"1,{2**31},1", "1,1e3,1", "1,nan,1",
             f"{2**64},1,1", "1,2,2", "3,1024,1024"]), self.text)
        return [], [self.flag("--config", self.good(("zoo", [])), self.config_file()),
                    self.flag("--set", self.good_sets, self.kv),
                    self.flag("--image-shape", self.good("1,28,28", "3,32,32", "3,64,64", "1,8,8"), shapes),
                    self.flag("--num-classes", self.good(1, 2, 10), self.int_junk), self.switch("--json")], \
            [self.value(draw, m, self.good_models, self.models)]

    def cmd_new_plugin(self, draw: Callable, m: Maker) -> tuple:
        st = self.st
        names = st.one_of(st.sampled_from(["MyGan", "1gan", "a" * 200, "", "-x", "con", "ganzoo", "test",
                                           "my gan", "gan/x", "名前"]), self.text)
        out = ["--dir", self.value(draw, m, self.good(("out", "new", "")), self.out_path(""))]
        return [out], [self.flag("--dir", self.good(("out", "new", "d")), self.out_path(""))], \
            [self.value(draw, m, self.good("mygan", "my-gan", "my_gan", "gan"), names)]

    def cmd_evaluator_fit(self, draw: Callable, m: Maker) -> tuple:
        st = self.st
        dataset = self.value(draw, m, self.good("mnist-embedded", "imagefolder"), self.datasets)
        holdout = self.good(20, 70) if dataset == "imagefolder" else self.good(4900, 4990)  # 70 to 100 to train on
        fixed = [["--epochs", self.value(draw, m, self.good(1), self.good(0, -1, "x", "", "1.5"))],
                 ["--holdout", self.value(draw, m, holdout, self.int_junk)]]
        if dataset in ("mnist-embedded", "imagefolder") and draw(st.integers(0, 4)) == 2:
            fixed.append(["--download"])  # never with a data set torchvision would really download
        if dataset == "imagefolder":
            fixed.append(["--root", self.value(draw, m, self.good_images, self.data_root())])
        return fixed, [
            self.flag("--name", self.good("x", "my-eval"), st.one_of(st.sampled_from(
                ["mnist-cnn", "inception-v3", "../x", "a/b", ".", ""]), st.just(("out", "name", "abs")), self.text)),
            self.flag("--out", self.good(("out", "new", "e.pt")), self.out_path(".pt")),
            self.flag("--holdout", self.good(1, 10, 100, 1000, 4999), self.int_bad),
            self.flag("--seed", self.good(0, 1), self.seed_junk),
            self.flag("--batch-size", self.good(16, 64, 512), self.int_bad), self.switch("--hflip"),
            self.flag("--threads", self.good(1, 2), self.int_junk),
            self.flag("--device", self.good("cpu", "auto"), self.devices),
            self.flag("--root", self.good_images, self.data_root()), self.switch("--json"),
        ], [dataset]

    def cmd_eval(self, draw: Callable, m: Maker) -> tuple:
        st = self.st
        evaluators = st.one_of(st.sampled_from(["inception-v3", "nope", "", "mnist-embedded-cnn"]),
                               self.evaluator_file(), self.text)
        fixed = [["--n", self.value(draw, m, self.good(65, 100), self.int_bad)]]
        return fixed, [
            self.flag("--evaluator", self.good("mnist-cnn"), evaluators),
            self.flag("--dataset", self.good("mnist-embedded"), st.one_of(self.datasets, self.data_root())),
            self.flag("--seed", self.good(0, 1), self.seed_junk),
            self.flag("--batch-size", self.good(1, 64, 500), self.int_junk),
            self.flag("--device", self.good("cpu", "auto"), self.devices),
            self.flag("--evaluator-weights", self.good(("run", "junk", [])), self.checkpoint_file()),
            self.flag("--inception-weights", self.checkpoint_file()),
            self.flag("--config", self.good(("zoo", [])), self.config_file()),
            self.switch("--json"), self.switch("--raw"),
        ], [self.value(draw, m, self.good_runs, self.run_folder(), rate=max(self.rate, 40))]

    def cmd_sample(self, draw: Callable, m: Maker) -> tuple:
        st = self.st
        return [], [
            self.flag("--n", self.good(1, 4, 64, 100), self.int_bad),
            self.flag("--label", self.good(0, 1, 9), self.int_junk),
            self.flag("--out", self.good(("out", "new", "s.png"), ("out", "new", "s.npz")), self.out_path(".png")),
            self.flag("--format", self.good("png", "npz"), st.sampled_from(["jpg", "", "PNG"])),
            self.flag("--seed", self.good(0, 1), self.seed_junk),
            self.flag("--device", self.good("cpu", "auto"), self.devices), self.switch("--raw"),
        ], [self.value(draw, m, self.good_runs, self.run_folder(), rate=max(self.rate, 40))]

    def cmd_translate(self, draw: Callable, m: Maker) -> tuple:
        st = self.st
        source = self.value(draw, m, self.good_images, self.image_folder(), rate=max(self.rate, 40))
        return [["--input", source], ["--to", self.value(draw, m, self.good("A", "B", "1"), self.text)]], [
            self.flag("--out", self.good(("out", "new", "t")), self.out_path("")),
            self.flag("--npz", self.good(("out", "new", "t.npz")), self.out_path(".npz")),
            self.flag("--grid", self.good(("out", "new", "t.png")), self.out_path(".png")),
            self.flag("--batch-size", self.good(1, 2, 64), self.int_junk),
            self.flag("--device", self.good("cpu", "auto"), self.devices), self.switch("--raw"),
        ], [self.value(draw, m, self.good_runs, self.run_folder(), rate=max(self.rate, 40))]

    def cmd_train(self, draw: Callable, m: Maker) -> tuple:
        st = self.st
        steps = self.value(draw, m, self.good(1, 2), self.good(0, -1, "x", "", "1.5", 2**64))
        fixed = [["--steps", steps], ["--set", "train.sample_every=0"]]
        if steps == str(2**64):
            fixed.append(["--minutes", "0.001"])
        dataset = self.value(draw, m, self.good(None, None, "mnist-embedded", "imagefolder"), self.datasets)
        if dataset is not None:
            fixed.append(["--dataset", dataset])
        if dataset == "imagefolder":  # the images are what this data set reads: often junk
            folder = self.value(draw, m, self.good_images, self.image_folder(), rate=max(self.rate, 40))
            fixed.append(draw(st.sampled_from([["--data-root", folder], ["--data-option", "path=" + folder]])))
        if dataset == "mnist-embedded" and draw(st.integers(0, 4)) == 2:
            fixed.append(["--download"])  # never with a data set torchvision would really download
        if draw(st.integers(0, 2)) == 1:  # an existing run: continued (or started afresh)
            fixed.append(["--out", self.value(draw, m, self.good(("run", "gan"), ("run", "cgan")), self.run_folder())])
            fixed.append([draw(st.sampled_from(["--resume", "--resume", "--overwrite"]))])
        options = {None: ["classes=[0,1]"], "mnist-embedded": ["classes=[0,1]", "classes=[3]"],
                   "imagefolder": ["image_size=8", "image_size=4", "image_size=64", "channels=1", "channels=3",
                                   "classes=[0]"]}
        return fixed, [
            self.flag("--batch-size", self.good(1, 2, 16, 64), self.int_junk),
            self.flag("--seed", self.good(0, 1), self.seed_junk),
            self.flag("--out", self.good(("out", "new", "r"), ("out", "new", "a/b")), self.out_path("")),
            self.flag("--name", self.good("r", "a/b"), st.one_of(
                st.sampled_from(["..", "../r", ".", "", "é", "x" * 300]),
                self.text)),
            self.switch("--resume"), self.switch("--overwrite"),
            self.flag("--device", self.good("cpu", "auto"), self.devices), self.switch("--amp"),
            self.flag("--amp-dtype", self.good("bf16"), st.sampled_from(["fp16", "fp32", ""])),
            self.flag("--data-root", self.good_images, self.data_root()),
            self.flag("--data-option", self.good(*options.get(dataset, ["split=train"])), self.data_option),
            self.flag("--minutes", self.good("0.001", "1", "10"), self.floats),
            self.flag("--config", self.good(("zoo", [])), self.config_file()),
            self.flag("--set", self.good_sets, self.kv), self.switch("--quiet"),
        ], [self.value(draw, m, self.good_models, self.models)]

    def cmd_bench(self, draw: Callable, m: Maker) -> tuple:
        st = self.st
        budget = self.value(draw, m, st.just(["--steps", "1"]), st.sampled_from(
            [["--steps", "0"], ["--steps", "-1"], ["--steps", "x"], ["--minutes", "0.0005"], ["--minutes", "-1"],
             ["--minutes", "nan"], ["--minutes", "0"], ["--steps", "1", "--minutes", "1"]]))
        fixed = [budget, ["--n-eval", self.value(draw, m, self.good(65, 100), self.int_bad)],
                 ["--eval-every", self.value(draw, m, self.good(0, 0, 1), self.good(-1, "x", 2**64))],
                 ["--seeds", self.value(draw, m, self.good(1), self.good(0, -1, "x"))],
                 ["--out", self.value(draw, m, self.good(("out", "new", "b")), self.out_path(""))]]
        models = [self.value(draw, m, self.good("gan", "vae"), self.models) for _ in range(draw(st.integers(0, 2)))]
        return fixed, [
            self.switch("--all"),
            self.flag("--suite", self.good("quick", "default"), st.one_of(self.good("full", "nope"), self.text)),
            self.flag("--dataset", self.good("mnist-embedded"), st.one_of(self.datasets, self.data_root())),
            self.flag("--fid-target", self.good("10", "5"), self.floats), self.switch("--reuse"),
            self.flag("--device", self.good("cpu", "auto"), self.devices),
            self.flag("--config", self.good(("zoo", [])), self.config_file()),
            self.flag("--set", self.good_sets, self.kv), self.switch("--quiet"), self.switch("--json"),
        ], models


def _cli() -> None:
    mode, root = sys.argv[1], Path(sys.argv[2]).resolve()
    if mode == "worker":
        worker(root, int(sys.argv[3]))
    elif mode == "hunt":
        started = time.time()
        found = fuzz(root, EXAMPLES)
        text = summary(found) if found else "no failures"
        (root / "summary.txt").write_text(text)
        print(text + f"\n({EXAMPLES} examples in {time.time() - started:.0f} s)")
    else:
        raise SystemExit(f"usage: {sys.argv[0]} worker|hunt FOLDER [SKIP]")


if __name__ == "__main__":
    _cli()
