"""Evaluator weights on request: ``ganzoo evaluator download`` and ``--download`` on eval and bench, against a local
HTTP server (the real InceptionV3 weights are never fetched); every failure is one line and leaves no file."""
from __future__ import annotations

import errno
import hashlib
import http.server
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from ganzoo import hookimpl
from ganzoo.cli import main
from ganzoo.metrics import Evaluator, EvaluatorError, list_evaluators, load_evaluator
from ganzoo.metrics import download, inception
from ganzoo.metrics.download import RemoteWeights
from ganzoo.registry import host

#: The fake weights file the server serves (a few chunks, so the transfer really streams).
BODY = bytes(range(256)) * 9000
BODY_SHA256 = hashlib.sha256(BODY).hexdigest()


class Server:
    """A local HTTP server: ``/weights.pth`` whole, ``/cut.pth`` cut off, ``/stall.pth`` stalled, ``/badlength.pth``
    with a nonsense Content-Length, anything else 404."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                outer.requests.append(self.path)
                if self.path not in ("/weights.pth", "/cut.pth", "/stall.pth", "/badlength.pth"):
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                length = str(len(BODY) + (1000 if self.path == "/cut.pth" else 0))
                self.send_header("Content-Length", "abc" if self.path == "/badlength.pth" else length)
                self.end_headers()
                if self.path == "/stall.pth":
                    self.wfile.write(BODY[:1000])
                    self.wfile.flush()
                    outer.release.wait(30)  # until the test is over: the client must give up by its read timeout
                    return
                self.wfile.write(BODY)  # /cut.pth: 1000 bytes fewer than promised, then the connection closes
                self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        class Quiet(http.server.ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that gave up early (the disk check) breaks the pipe: not the test's business

        self.httpd = Quiet(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        """Let stalled handlers finish and stop serving."""
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty torch hub cache (``TORCH_HOME``), no weights variable, and the fake file's hash as the pinned one."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)
    monkeypatch.delenv(inception.URL_ENV, raising=False)
    monkeypatch.setattr(inception, "SHA256", BODY_SHA256)
    return tmp_path / "torch-home" / "hub" / "checkpoints"


def refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/weights.pth"


def cli(capsys: pytest.CaptureFixture, *argv: object) -> tuple[int, str, str]:
    """``ganzoo ARGV`` in-process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line_error(err: str, *needles: str) -> str:
    """The single ``error:`` line of ``err`` (no traceback), checked to name each of ``needles``."""
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


def leftovers(folder: Path) -> list[str]:
    """Every file in ``folder`` (temporary ones included), or [] when it does not exist."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# -- the command ---------------------------------------------------------------------------------------------------
def test_download_lands_atomically_shows_progress_and_is_not_repeated(hub, server, capsys, monkeypatch) -> None:
    monkeypatch.setenv(inception.URL_ENV, f"{server.base}/weights.pth")
    code, out, err = cli(capsys, "evaluator", "download", "inception-v3")
    assert code == 0, err
    target = hub / inception.FILENAME
    assert target.read_bytes() == BODY and leftovers(hub) == [inception.FILENAME]
    assert str(target) in out and BODY_SHA256 in out
    assert f"{server.base}/weights.pth" in err and "2.3/2.3 MB" in err and "B/s" in err  # progress: bytes, speed
    assert server.requests == ["/weights.pth"]
    assert inception.find_weights() == target
    assert "ganzoo evaluator download" not in inception.InceptionEvaluator.status()

    code, out, err = cli(capsys, "evaluator", "download", "inception-v3")
    assert code == 0 and "already there" in out and BODY_SHA256 in out
    assert server.requests == ["/weights.pth"]  # not fetched again

    target.write_bytes(b"edited")  # a damaged file is reported, and --force replaces it
    code, _, err = cli(capsys, "evaluator", "download", "inception-v3")
    assert code == 2
    one_line_error(err, str(target), BODY_SHA256, "--force")
    code, _, err = cli(capsys, "evaluator", "download", "inception-v3", "--force")
    assert code == 0, err
    assert target.read_bytes() == BODY


def test_the_url_flag_wins_over_the_variable(hub, server, capsys, monkeypatch) -> None:
    monkeypatch.setenv(inception.URL_ENV, refused_url())
    code, _, err = cli(capsys, "evaluator", "download", "inception-v3", "--url", f"{server.base}/weights.pth")
    assert code == 0, err
    assert (hub / inception.FILENAME).read_bytes() == BODY


def test_a_nonsense_content_length_leaves_the_hash_to_decide(hub, server, capsys) -> None:
    code, _, err = cli(capsys, "evaluator", "download", "inception-v3", "--url", f"{server.base}/badlength.pth")
    assert code == 0, err
    assert (hub / inception.FILENAME).read_bytes() == BODY


def test_a_wrong_hash_names_both_hashes_and_leaves_no_file(hub, server, capsys, monkeypatch) -> None:
    monkeypatch.setattr(inception, "SHA256", "0" * 64)
    code, _, err = cli(capsys, "evaluator", "download", "inception-v3", "--url", f"{server.base}/weights.pth")
    assert code == 2
    one_line_error(err, BODY_SHA256, "0" * 64, f"{server.base}/weights.pth")
    assert leftovers(hub) == []


def test_a_cut_off_transfer_is_an_error_and_leaves_no_partial_file(hub, server, capsys) -> None:
    code, _, err = cli(capsys, "evaluator", "download", "inception-v3", "--url", f"{server.base}/cut.pth")
    assert code == 2
    one_line_error(err, f"{server.base}/cut.pth", f"{len(BODY):,}", f"{len(BODY) + 1000:,}")
    assert leftovers(hub) == []


def test_an_interrupted_download_leaves_no_partial_file(hub, server, capsys, monkeypatch) -> None:
    class CtrlC(download.Progress):
        def update(self, *args: object, **kwargs: object) -> None:
            raise KeyboardInterrupt  # Ctrl-C after the first chunk was written

    monkeypatch.setattr(download, "Progress", CtrlC)
    code, _, err = cli(capsys, "evaluator", "download", "inception-v3", "--url", f"{server.base}/weights.pth")
    assert code == 130 and "Traceback" not in err
    assert leftovers(hub) == []


def test_a_stalled_transfer_times_out_and_leaves_no_partial_file(hub, server, capsys, monkeypatch) -> None:
    monkeypatch.setattr(download, "TIMEOUT", 0.5)
    code, _, err = cli(capsys, "evaluator", "download", "inception-v3", "--url", f"{server.base}/stall.pth")
    assert code == 2
    one_line_error(err, f"{server.base}/stall.pth", "timed out")
    assert leftovers(hub) == []


def test_http_404_names_the_url(hub, server, capsys) -> None:
    code, _, err = cli(capsys, "evaluator", "download", "inception-v3", "--url", f"{server.base}/nope.pth")
    assert code == 2
    one_line_error(err, "404", f"{server.base}/nope.pth", inception.URL_ENV)
    assert leftovers(hub) == []


def test_no_network_says_how_to_place_the_file_by_hand(hub, capsys) -> None:
    url = refused_url()
    code, _, err = cli(capsys, "evaluator", "download", "inception-v3", "--url", url)
    assert code == 2
    one_line_error(err, url, "no network", "curl -L -o", str(hub / inception.FILENAME), inception.WEIGHTS_ENV)
    assert not hub.parent.exists()  # nothing made, not even the folder


def test_not_an_http_url_is_refused(hub, capsys) -> None:
    code, _, err = cli(capsys, "evaluator", "download", "inception-v3", "--url", "ftp://example/weights.pth")
    assert code == 2
    one_line_error(err, "ftp://example/weights.pth", "http")


def test_a_full_or_unwritable_disk_is_an_error_naming_the_folder(hub, server, capsys, monkeypatch) -> None:
    url = f"{server.base}/weights.pth"
    with monkeypatch.context() as m:
        m.setattr(download.shutil, "disk_usage", lambda folder: SimpleNamespace(free=10, total=10, used=0))
        code, _, err = cli(capsys, "evaluator", "download", "inception-v3", "--url", url)
    assert code == 2
    one_line_error(err, str(hub), f"{len(BODY):,}", "TORCH_HOME")
    assert leftovers(hub) == []

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as m:  # the disk fills while the file is written
        m.setattr(os, "fsync", no_space)
        code, _, err = cli(capsys, "evaluator", "download", "inception-v3", "--url", url)
    assert code == 2
    one_line_error(err, str(hub / inception.FILENAME), "No space left on device", "TORCH_HOME")
    assert leftovers(hub) == []
    hub.rmdir()
    hub.write_text("a file where the folder should be")
    code, _, err = cli(capsys, "evaluator", "download", "inception-v3", "--url", url)
    assert code == 2
    one_line_error(err, str(hub), "TORCH_HOME")


def test_only_evaluators_with_a_remote_file_download(capsys) -> None:
    code, _, err = cli(capsys, "evaluator", "download", "mnist-cnn")
    assert code == 2
    one_line_error(err, "mnist-cnn", "no weights file to download")
    code, _, err = cli(capsys, "evaluator", "download", "inception-v4")
    assert code == 2
    one_line_error(err, "Did you mean 'inception-v3'")


# -- what a user is told when the weights are missing ----------------------------------------------------------------
def test_missing_weights_point_at_the_command_and_the_flag(hub, capsys) -> None:
    with pytest.raises(EvaluatorError) as exc:
        load_evaluator("inception-v3")
    message = str(exc.value)
    assert "ganzoo evaluator download inception-v3" in message and "--download" in message
    assert inception.URL in message and str(hub / inception.FILENAME) in message and "\n" not in message
    rows = {row["name"]: row for row in list_evaluators()}
    assert "ganzoo evaluator download inception-v3" in rows["inception-v3"]["status"]


def test_the_pinned_hash_is_a_full_sha256_matching_the_file_name() -> None:
    sha = inception.SHA256
    assert len(sha) == 64 and int(sha, 16) >= 0 and inception.FILENAME.split("-")[-1] == f"{sha[:8]}.pth"


# -- a plugin's evaluator uses the same command ----------------------------------------------------------------------
class Remote(Evaluator):
    """A plugin's evaluator whose weights file is fetched from a URL; only the hash prefix is known."""

    name = "remote-pixels"
    num_features = 1
    where: Path = Path()
    url = ""

    def __init__(self) -> None:
        """Nothing to pass."""
        super().__init__()

    @classmethod
    def remote_weights(cls) -> RemoteWeights:
        return RemoteWeights(url=cls.url, path=cls.where, sha256=BODY_SHA256[:8])

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = images.float().mean((1, 2, 3))[:, None]
        return mean, mean


class RemotePlugin:
    @staticmethod
    @hookimpl
    def register_evaluators(register) -> None:
        register("remote-pixels", Remote, "mean pixel, weights from a URL")


def test_a_plugin_evaluator_downloads_through_the_same_command(server, capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(Remote, "where", tmp_path / "plugin" / "pixels.pt")
    monkeypatch.setattr(Remote, "url", f"{server.base}/weights.pth")
    host().register_plugin(RemotePlugin(), name="remote-plugin")
    try:
        assert download.missing_weights("remote-pixels", {}) == Remote.remote_weights()
        code, out, err = cli(capsys, "evaluator", "download", "remote-pixels")
        assert code == 0, err
        assert Remote.where.read_bytes() == BODY and BODY_SHA256 in out
        assert download.missing_weights("remote-pixels", {}) is None
        Remote.where.unlink()
        monkeypatch.setattr(Remote, "url", f"{server.base}/cut.pth")
        code, _, err = cli(capsys, "evaluator", "download", "remote-pixels")
        assert code == 2 and not Remote.where.exists()
        one_line_error(err, "cut.pth")
    finally:
        host().unregister_plugin("remote-plugin")


# -- --download on eval and bench ------------------------------------------------------------------------------------
@pytest.fixture
def fetches(monkeypatch: pytest.MonkeyPatch) -> list[RemoteWeights]:
    """Record downloads instead of fetching; each recorded one writes the fake file where it belongs."""
    calls: list[RemoteWeights] = []

    def fake(remote: RemoteWeights, **kwargs: object) -> str:
        calls.append(remote)
        remote.path.parent.mkdir(parents=True, exist_ok=True)
        remote.path.write_bytes(BODY)
        return BODY_SHA256

    monkeypatch.setattr(download, "download_weights", fake)
    return calls


@pytest.fixture
def fake_eval(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """``ganzoo eval`` with a stand-in model and scoring: records the evaluator it was asked to score with."""
    import ganzoo.commands.eval as eval_cmd

    scored: list[dict] = []
    model = SimpleNamespace(use_ema=True, conditional=False, name="fake")
    monkeypatch.setattr(eval_cmd, "load_model", lambda run, device: (model, {}))

    def evaluate(model: object, **kwargs: object) -> dict:
        scored.append(kwargs)
        return {"fid": 1.0, "protocol": {"evaluator": kwargs["evaluator"]}}

    monkeypatch.setattr(eval_cmd, "evaluate", evaluate)
    return scored


def test_eval_download_fetches_only_missing_weights(hub, fetches, fake_eval, capsys) -> None:
    base = ("eval", "some-run", "--evaluator", "inception-v3", "--device", "cpu", "--json")
    code, out, err = cli(capsys, *base)
    assert code == 0 and fetches == [], err  # without --download nothing is fetched
    code, out, err = cli(capsys, *base, "--download")
    assert code == 0, err
    assert [r.path for r in fetches] == [hub / inception.FILENAME] and len(fake_eval) == 2
    assert json.loads(out)["protocol"]["evaluator"] == "inception-v3"
    code, _, err = cli(capsys, *base, "--download")  # now there: not fetched again
    assert code == 0 and len(fetches) == 1, err
    (hub / inception.FILENAME).unlink()
    code, _, err = cli(capsys, "eval", "some-run", "--evaluator", "mnist-cnn", "--device", "cpu", "--json",
                       "--download")
    assert code == 0 and len(fetches) == 1, err  # an evaluator with no remote file: nothing to fetch
    code, _, err = cli(capsys, *base, "--download", "--evaluator-weights", hub / "mine.pth")
    assert code == 0 and len(fetches) == 1, err  # the user named a file: it is used (or reported), never fetched


def test_eval_download_failure_is_one_line(hub, capsys, monkeypatch) -> None:
    import ganzoo.commands.eval as eval_cmd

    monkeypatch.setattr(eval_cmd, "load_model", lambda run, device: (SimpleNamespace(use_ema=True), {}))
    url = refused_url()
    monkeypatch.setenv(inception.URL_ENV, url)
    code, _, err = cli(capsys, "eval", "some-run", "--evaluator", "inception-v3", "--device", "cpu", "--download")
    assert code == 2
    one_line_error(err, url, "no network")
    assert leftovers(hub) == []


def test_bench_download_fetches_before_anything_is_checked_or_trained(hub, fetches, capsys, monkeypatch,
                                                                       tmp_path) -> None:
    import ganzoo.bench.runner as runner

    prepared: list[object] = []

    def stop(spec: object, **kwargs: object) -> None:
        prepared.append(kwargs["evaluator"])
        raise EvaluatorError("stopped after the evaluator check")

    monkeypatch.setattr(runner, "prepare_scoring", stop)
    base = ("bench", "gan", "--evaluator", "inception-v3", "--steps", "1", "--out", tmp_path / "out", "--quiet")
    code, _, err = cli(capsys, *base)
    assert code == 2 and fetches == [] and prepared == ["inception-v3"], err
    code, _, err = cli(capsys, *base, "--download")
    assert code == 2 and "stopped after the evaluator check" in err
    assert [r.path for r in fetches] == [hub / inception.FILENAME] and len(prepared) == 2
    code, _, err = cli(capsys, *base, "--download")
    assert len(fetches) == 1 and len(prepared) == 3  # there now: not fetched again
    assert not (tmp_path / "out" / "runs").exists()
