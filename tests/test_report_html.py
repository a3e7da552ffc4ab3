"""report.html: one self-contained page with report.md's leaderboard, and what headless Chromium shows of it."""
from __future__ import annotations

import base64
import io
import json
import os
import re
import select
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from ganzoo.bench.report import machine_line, protocol_line, webpage
from ganzoo.cli import main

TINY = ["--set", "gan.g_widths=[32]", "--set", "gan.d_widths=[32]", "--set", "gan.batch_size=16",
        "--set", "cgan.g_widths=[32]", "--set", "cgan.d_widths=[32]", "--set", "cgan.batch_size=16"]
CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (Debian's package: apt-get install chromium; .ci/run does)")
WINDOW = (1280, 1600)
HOSTILE = {"model": "<script>alert(1)</script>", "dataset": '"><img src=x onerror=alert(2)> & co'}


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny bench of gan and cgan with an FID curve and a progress animation per model."""
    folder = tmp_path_factory.mktemp("bench")
    assert main(["bench", "gan", "cgan", "--steps", "4", "--n-eval", "256", "--eval-every", "2",
                 "--fid-target", "1e6", "--out", str(folder), "--quiet", "--device", "cpu",
                 "--set", "train.sample_every=2", *TINY]) == 0
    return folder


class Page(HTMLParser):
    """What a reader sees of a page: the leaderboard's headings and rows, images, scripts, h1 and paragraphs."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.heads: list[tuple[dict, str]] = []
        self.rows: list[list[tuple[dict, str]]] = []
        self.images: list[dict] = []
        self.tags: list[str] = []
        self.texts: dict[str, list[str]] = {"h1": [], "p": [], "script": [], "title": []}
        self.body: dict = {}
        self._cell: list | None = None
        self._open: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "body":
            self.body = a
        elif tag == "img":
            self.images.append(a)
        elif tag == "tr" and self.heads:
            self.rows.append([])
        elif tag in ("th", "td"):
            self._cell = [a, ""]
        if tag in self.texts:
            self._open = tag
            self.texts[tag].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self._cell is not None:
            (self.rows[-1] if self.rows else self.heads).append((self._cell[0], self._cell[1]))
            self._cell = None
        if tag == self._open:
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[1] += data
        if self._open:
            self.texts[self._open][-1] += data

    def table(self) -> dict[str, list[str]]:
        """Model -> its cells' texts, in row order."""
        return {row[0][1]: [text for _, text in row[1:]] for row in self.rows}


def markdown_table(report: str) -> tuple[list[str], dict[str, list[str]], set[tuple[str, int]]]:
    """report.md's headings, model -> cell texts, and the (model, column) of each bold cell."""
    lines = [line for line in report.splitlines() if line.startswith("| ")]
    heads = [c.strip() for c in lines[0].strip("|").split("|")]
    cells, bold = {}, set()
    for line in lines[1:]:
        name, *rest = [c.strip() for c in line.strip("|").split("|")]
        cells[name] = [c.strip("*") for c in rest]
        bold |= {(name, i) for i, c in enumerate(rest) if c.startswith("**")}
    return heads, cells, bold


def decoded(src: str) -> bytes:
    """The bytes of a ``data:image/...;base64,`` URI (any other address fails the test)."""
    match = re.fullmatch(r"data:image/(png|gif);base64,([A-Za-z0-9+/=]+)", src)
    assert match, src[:80]
    return base64.b64decode(match.group(2), validate=True)


def test_report_html_holds_report_md_s_leaderboard_protocol_and_machine(out: Path) -> None:
    text = (out / "report.html").read_text(encoding="utf-8")
    page = Page(text)
    results = json.loads((out / "results.json").read_text())
    heads, cells, bold = markdown_table((out / "report.md").read_text())
    assert [t for _, t in page.heads] == heads
    assert page.table() == cells and list(cells) == ["gan", "cgan"]  # same rows, order and cell texts as report.md
    assert "FID" in heads and all(re.fullmatch(r"\d+\.\d\d", row[heads.index("FID") - 1]) for row in cells.values())
    best = {(row[0][1], i) for row in page.rows for i, (a, _) in enumerate(row[1:]) if a.get("class") == "best"}
    assert best == bold and best  # the best cell of each column marked as report.md marks it
    fid = heads.index("FID")
    assert [float(r[fid][0]["data-value"]) for r in page.rows] == [m["fid"] for m in results["models"]]
    assert f"Protocol: {protocol_line(results)}" in page.texts["p"]
    assert f"Machine: {machine_line(results)}" in page.texts["p"]
    assert page.texts["h1"] == [f"ganzoo bench — {results['dataset']}"]
    # self-contained: nothing it could fetch, one inline script, the page's policy allows images only from data:
    assert not re.search(r"(?i)https?:|//[a-z]|\burl\(|@import", re.sub(r"data:image/\w+;base64,[\w+/=]+", "", text))
    assert page.tags.count("script") == 1 and not {"link", "iframe", "object", "embed"} & set(page.tags)
    assert "img-src data:;" in text and "default-src 'none'" in text


def test_every_image_is_inline_and_decodes(out: Path) -> None:
    page = Page((out / "report.html").read_text(encoding="utf-8"))
    files = ["fid-curve.png", "samples-gan.png", "progress-gan.gif", "samples-cgan.png", "progress-cgan.gif"]
    assert len(page.images) == len(files)
    zooms = []
    for img, name in zip(page.images, files):
        data = decoded(img["src"])
        assert data == (out / name).read_bytes(), name
        with Image.open(io.BytesIO(data)) as picture:
            picture.load()
            assert picture.format == ("GIF" if name.endswith(".gif") else "PNG")
            assert getattr(picture, "n_frames", 1) >= (2 if name.endswith(".gif") else 1)
            zooms.append(int(img["width"]) // picture.width)
            assert (int(img["width"]), int(img["height"])) == (picture.width * zooms[-1], picture.height * zooms[-1])
    assert zooms == [1, 2, 2, 2, 2]  # the plot as it is; the small grids enlarged alike, pixel for pixel


def _hostile_results() -> dict[str, Any]:
    env = {"cpu": "cpu <b>", "device": "cpu", "gpu": None, "packages": {"torch": "x", "torchmetrics": "y"}}
    row = {"model": HOSTILE["model"], "steps": 4, "fid": 12.5, "fid_curve": {}}
    return {"dataset": HOSTILE["dataset"], "budget": {"steps": 4, "minutes": None, "seeds": 1}, "fid_targets": [],
            "protocol": {"evaluator": "x'</p><script>alert(3)</script>"}, "environment": env,
            "models": [row, {**row, "model": "b&b", "fid": 3.0}]}


def test_names_and_descriptions_from_results_are_escaped(tmp_path: Path) -> None:
    text = webpage(_hostile_results(), tmp_path, {}, None)
    page = Page(text)
    assert page.tags.count("script") == 1 and "img" not in page.tags
    assert page.texts["h1"] == [f"ganzoo bench — {HOSTILE['dataset']}"]  # shown as written, never as markup
    assert list(page.table()) == [HOSTILE["model"], "b&b"]
    assert any("x'</p><script>alert(3)</script>" in p for p in page.texts["p"])
    assert "Machine: cpu <b>, device cpu; torch x, torchmetrics y" in page.texts["p"]
    assert page.rows[0][0][0]["data-value"] == HOSTILE["model"]


def chromium(*flags: str, url: str, profile: Path) -> subprocess.CompletedProcess:
    """Headless Chromium on ``url`` with ``flags``, its console messages on stderr."""
    return subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                           "--enable-logging=stderr", "--v=0", *flags, url],
                          capture_output=True, text=True, timeout=120, check=True)


def console(stderr: str) -> list[str]:
    """The page's console messages and script errors in Chromium's log (``…:CONSOLE:LINE] "message", …``)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def dom(out: Path, tmp_path: Path, fragment: str = "") -> Page:
    """The page after its script ran, as Chromium serialises it; no console message allowed."""
    run = chromium("--dump-dom", url=(out / "report.html").as_uri() + fragment, profile=tmp_path / "profile")
    assert not console(run.stderr), console(run.stderr)
    page = Page(run.stdout)
    assert page.body.get("data-ready") == "yes" and "data-errors" not in page.body, page.body
    return page


@needs_chromium
def test_chromium_shows_every_row_and_image_and_an_address_sorts(out: Path, tmp_path: Path) -> None:
    _, cells, _ = markdown_table((out / "report.md").read_text())
    results = json.loads((out / "results.json").read_text())
    page = dom(out, tmp_path)
    assert page.table() == cells  # as report.md: one row per model, the same texts
    assert len(page.images) == 5 and all(img.get("data-decoded") == "yes" for img in page.images)
    by_fid = [m["model"] for m in sorted(results["models"], key=lambda m: m["fid"])]
    assert list(dom(out, tmp_path, "#sort=fid").table()) == by_fid  # lower is better: best first
    assert list(dom(out, tmp_path, "#sort=fid:desc").table()) == by_fid[::-1]
    for order in ("asc", "desc"):  # gan has no class accuracy ("—"): last either way
        assert list(dom(out, tmp_path, f"#sort=class_accuracy:{order}").table()) == ["cgan", "gan"]


@needs_chromium
def test_names_from_results_stay_text_in_chromium(tmp_path: Path) -> None:
    (tmp_path / "report.html").write_text(webpage(_hostile_results(), tmp_path, {}, None), encoding="utf-8")
    page = dom(tmp_path, tmp_path, "#sort=fid")
    assert list(page.table()) == ["b&b", HOSTILE["model"]] and not page.images
    assert page.texts["title"] == [f"ganzoo bench — {HOSTILE['dataset']}"]


@needs_chromium
def test_the_screenshot_shows_the_page(out: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    chromium("--hide-scrollbars", "--run-all-compositor-stages-before-draw", f"--window-size={WINDOW[0]},{WINDOW[1]}",
             f"--screenshot={shot}", url=(out / "report.html").as_uri(), profile=tmp_path / "profile")
    with Image.open(shot) as picture:
        assert (picture.format, picture.size) == ("PNG", WINDOW)
        rgb = picture.convert("RGB")
    colours = rgb.getcolors(maxcolors=1 << 20)
    white = sum(n for n, c in colours if c == (255, 255, 255))
    assert white < 0.9 * WINDOW[0] * WINDOW[1] and len(colours) > 100  # text, the plot and the grids drew
    assert any(c == (0xE6, 0xF4, 0xEA) for _, c in colours)  # the page's style applied: best cells' background


class DevTools:
    """Chromium driven over --remote-debugging-pipe (the DevTools protocol: JSON messages ending in NUL)."""

    def __init__(self, profile: Path) -> None:
        commands, self._to_browser = os.pipe()
        self._from_browser, replies = os.pipe()
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{commands} 4>&{replies}', "bash", CHROMIUM, "--headless=new",
             "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", f"--user-data-dir={profile}",
             f"--window-size={WINDOW[0]},{WINDOW[1]}", "about:blank"],
            pass_fds=(commands, replies), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(commands)
        os.close(replies)
        self.events: list[dict] = []
        self._buffer, self._id, self.session = b"", 0, None
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def send(self, method: str, **params: Any) -> dict:
        """Send one command and return its result (events that arrive meanwhile go to ``events``)."""
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._next()
            if reply.get("id") == self._id:
                assert "error" not in reply, reply
                return reply["result"]
            self.events.append(reply)

    def _next(self) -> dict:
        while b"\0" not in self._buffer:
            assert select.select([self._from_browser], [], [], 60)[0], "no answer from Chromium in 60 s"
            chunk = os.read(self._from_browser, 1 << 16)
            assert chunk, "Chromium closed the DevTools pipe"
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def wait_for(self, method: str) -> None:
        """Read events until ``method`` arrives."""
        while not any(e.get("method") == method for e in self.events):
            self.events.append(self._next())

    def js(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        return self.send("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def close(self) -> None:
        """End the browser."""
        self.proc.kill()
        self.proc.wait(timeout=60)
        os.close(self._to_browser)
        os.close(self._from_browser)


@needs_chromium
def test_clicking_a_heading_sorts_by_it_and_again_reverses(out: Path, tmp_path: Path) -> None:
    browser = DevTools(tmp_path / "profile")
    try:
        for domain in ("Runtime", "Log", "Page"):
            browser.send(f"{domain}.enable")
        browser.send("Page.navigate", url=(out / "report.html").as_uri())
        browser.wait_for("Page.loadEventFired")
        results = json.loads((out / "results.json").read_text())
        by_fid = [m["model"] for m in sorted(results["models"], key=lambda m: m["fid"])]

        def click(key: str) -> tuple[list[str], str]:
            x, y = browser.js(f"(() => {{ const r = document.querySelector('th[data-key=\"{key}\"] button')"
                              ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()")
            for kind in ("mousePressed", "mouseReleased"):
                browser.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)
            rows = browser.js("[...document.querySelectorAll('#leaderboard tbody th')].map(th => th.textContent)")
            return rows, browser.js("location.hash")

        assert click("fid") == (by_fid, "#sort=fid:asc")  # lower is better: best first, and a linkable address
        assert click("fid") == (by_fid[::-1], "#sort=fid:desc")
        assert click("class_accuracy") == (["cgan", "gan"], "#sort=class_accuracy:desc")  # higher is better
        assert click("class_accuracy") == (["cgan", "gan"], "#sort=class_accuracy:asc")  # "—" last both ways
        assert click("model") == (["cgan", "gan"], "#sort=model:asc")
        assert browser.js("document.body.dataset.errors === undefined && document.body.dataset.ready")
        noise = [e for e in browser.events if e.get("method") in
                 ("Runtime.consoleAPICalled", "Runtime.exceptionThrown", "Log.entryAdded")]
        assert not noise, noise
    finally:
        browser.close()


def test_a_shared_best_value_marks_no_cell() -> None:
    from ganzoo.bench.report import best_per_column, columns

    results = _hostile_results()
    results["models"] = [{"model": "a", "fid": 3.0, "kid": 0.5}, {"model": "b", "fid": 3.0, "kid": 0.25},
                         {"model": "c", "fid": 9.0}]
    assert best_per_column(results["models"], columns(results)) == {"kid": "b"}  # FID 3.0 twice: neither is "best"
