"""report.html: one self-contained page (inline style, script and images) with a sortable leaderboard."""
from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Sequence
from html import escape
from pathlib import Path
from string import Template

__all__ = ["data_uri", "image_size", "page"]

# A cell as the page takes it: its text, the number it sorts by (None: after every number) and whether it is best.
_Cell = tuple[str, float | None, bool]

_STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1b1f24;
       background: #fff; margin: 0 auto; padding: 20px 24px 48px; max-width: 1400px; }
h1 { font-size: 24px; margin: 0 0 6px; }
h2 { font-size: 18px; margin: 32px 0 10px; border-bottom: 1px solid #d8dee4; padding-bottom: 4px; }
p { margin: 6px 0; }
.notes p { color: #424a53; font-size: 13px; }
.notes b { color: #1b1f24; }
.scroll { overflow-x: auto; margin: 14px 0; }
table { border-collapse: collapse; font-size: 14px; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 6px; border-bottom: 1px solid #e4e8ec; text-align: right; white-space: nowrap; }
thead th { vertical-align: bottom; border-bottom: 2px solid #8c959f; }
thead th.long { white-space: normal; }
tbody th, thead th:first-child { text-align: left; }
tbody tr:hover { background: #f6f8fa; }
th button { font: inherit; font-weight: 600; color: inherit; background: none; border: 0; padding: 0; cursor: pointer;
            text-align: inherit; }
th button:hover, th button:focus-visible { text-decoration: underline; }
th[aria-sort=ascending] button::after { content: "\\00A0\\25B2"; font-size: 11px; }
th[aria-sort=descending] button::after { content: "\\00A0\\25BC"; font-size: 11px; }
td.best { font-weight: 700; color: #0b6b2f; background: #e6f4ea; }
td.none { color: #6e7781; }
.figures { display: flex; flex-wrap: wrap; gap: 16px 28px; align-items: flex-start; }
figure { margin: 0; }
figcaption { font-size: 13px; color: #57606a; margin-top: 4px; }
img { display: block; max-width: 100%; height: auto; }
img.pixels { image-rendering: pixelated; }
"""

# Sorts by a column on a click (again: the other way) or by the address's #sort=KEY[:asc|:desc], which a click writes,
# so a sorted view can be linked. For the page's readers and its test: errors go into <body data-errors>, and on load
# every image says whether it decoded (data-decoded) and <body data-ready> says the script ran to its end.
_SCRIPT = """
(function () {
  "use strict";
  var body = document.body, errors = [];
  function fail(message) {
    errors.push(String(message));
    body.setAttribute("data-errors", errors.join("\\n"));
  }
  window.addEventListener("error", function (event) {
    fail(event.message || "cannot load a " + (event.target && event.target.tagName));
  }, true);
  var table = document.getElementById("leaderboard"), tbody = table.tBodies[0];
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var original = Array.prototype.slice.call(tbody.rows);

  function sortBy(key, order) {
    var index = heads.map(function (th) { return th.getAttribute("data-key"); }).indexOf(key);
    if (index < 0) return;
    if (order !== "asc" && order !== "desc") {
      order = heads[index].getAttribute("data-better") === "higher" ? "desc" : "asc";
    }
    var sign = order === "asc" ? 1 : -1;
    var rows = original.map(function (tr, i) {
      var raw = tr.cells[index].getAttribute("data-value");
      return {tr: tr, i: i, v: raw === null ? null : (index === 0 ? raw : Number(raw))};
    });
    rows.sort(function (a, b) {
      if (a.v === null || b.v === null) return (a.v === null) - (b.v === null) || a.i - b.i;
      return a.v < b.v ? -sign : a.v > b.v ? sign : a.i - b.i;
    });
    rows.forEach(function (row) { tbody.appendChild(row.tr); });
    heads.forEach(function (th) { th.removeAttribute("aria-sort"); });
    heads[index].setAttribute("aria-sort", order === "asc" ? "ascending" : "descending");
    table.setAttribute("data-sorted", key + ":" + order);
  }

  function fromAddress() {
    var match = /^#sort=([^:&]*)(?::(asc|desc))?$/.exec(location.hash);
    if (match) sortBy(decodeURIComponent(match[1]), match[2]);
  }

  heads.forEach(function (th) {
    th.querySelector("button").addEventListener("click", function () {
      var key = th.getAttribute("data-key"), now = (table.getAttribute("data-sorted") || "").split(":");
      var order = now[0] === key ? (now[1] === "asc" ? "desc" : "asc") : null;
      sortBy(key, order);
      location.hash = "sort=" + encodeURIComponent(key) + ":" + table.getAttribute("data-sorted").split(":")[1];
    });
  });
  window.addEventListener("hashchange", fromAddress);
  window.addEventListener("load", function () {
    Array.prototype.forEach.call(document.images, function (img) {
      img.setAttribute("data-decoded", img.complete && img.naturalWidth > 0 ? "yes" : "no");
    });
    body.setAttribute("data-ready", "yes");
  });
  try { fromAddress(); } catch (error) { fail(error); }
})();
"""


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


# Only this page's own style and script run, and images come only from data: URIs (nothing is fetched, and
# markup that slipped into a name could not run).
_POLICY = (f"default-src 'none'; img-src data:; style-src '{_sha256(_STYLE)}'; script-src '{_sha256(_SCRIPT)}'; "
           "base-uri 'none'; form-action 'none'")

_PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="$policy">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>$style</style>
</head>
<body>
<h1>$title</h1>
<p>$intro</p>
<div class="scroll"><table id="leaderboard">
<thead><tr>$heads</tr></thead>
<tbody>
$rows
</tbody>
</table></div>
<div class="notes">
$notes
</div>
$figures
<script>$script</script>
</body>
</html>
""")

#: Images narrower than this many pixels (sample grids) are all enlarged by one whole factor, pixel for pixel, so
#: that the widest of them is about as wide; wider ones (the FID plot) are shown as they are.
_ZOOM_WIDTH = 500

_MAGIC = {b"\x89PNG\r\n\x1a\n": "image/png", b"GIF87a": "image/gif", b"GIF89a": "image/gif"}


def _mime(data: bytes) -> str:
    mime = next((m for magic, m in _MAGIC.items() if data.startswith(magic)), None)
    if mime is None:
        raise ValueError("not a PNG or GIF image")
    return mime


def data_uri(data: bytes) -> str:
    """The PNG or GIF image ``data`` as a ``data:`` URI."""
    return f"data:{_mime(data)};base64,{base64.b64encode(data).decode('ascii')}"


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height of the PNG or GIF image ``data``, from its header."""
    if _mime(data) == "image/png":
        return struct.unpack(">II", data[16:24])
    return struct.unpack("<HH", data[6:10])


def _image(caption: str, data: bytes, zoom: int) -> str:
    width, height = image_size(data)
    zoom = zoom if width < _ZOOM_WIDTH else 1
    pixels = ' class="pixels"' if zoom > 1 else ""
    return (f'<figure><img src="{data_uri(data)}" alt="{escape(caption)}" width="{width * zoom}" '
            f'height="{height * zoom}"{pixels}><figcaption>{escape(caption)}</figcaption></figure>')


def _row(name: str, cells: Sequence[_Cell]) -> str:
    tds = []
    for text, value, best in cells:
        kind = ' class="best"' if best else "" if value is not None else ' class="none"'
        sort = "" if value is None else f' data-value="{float(value)!r}"'
        tds.append(f"<td{kind}{sort}>{escape(text)}</td>")
    return f'<tr><th scope="row" data-value="{escape(name)}">{escape(name)}</th>{"".join(tds)}</tr>'


def _head(key: str, heading: str, direction: int) -> str:
    better = {1: "higher", -1: "lower", 0: "none"}[direction]
    attributes = ' class="long"' if len(heading) > 12 else ""  # short headings never wrap, long ones may
    attributes += f' data-key="{escape(key)}" data-better="{better}"'
    attributes += f' title="{better} is better"' if direction else ""
    return f'<th scope="col"{attributes}><button type="button">{escape(heading)}</button></th>'


def page(title: str, intro: str, columns: Sequence[tuple[str, str, int]],
         rows: Sequence[tuple[str, Sequence[_Cell]]], notes: Sequence[tuple[str, str]],
         figures: Sequence[tuple[str, Sequence[tuple[str, Path]]]]) -> str:
    """The page: ``columns`` (key, heading, +1 higher is better / -1 lower / 0), ``rows`` (name, cells),
    ``notes`` (label, text) and ``figures`` (heading, [(caption, image file)]); every text is escaped."""
    heads = "".join(_head(key, heading, direction) for key, heading, direction in columns)
    read = [(heading, [(caption, path.read_bytes()) for caption, path in images]) for heading, images in figures]
    small = [w for _, images in read for _, data in images if (w := image_size(data)[0]) < _ZOOM_WIDTH]
    zoom = max(1, _ZOOM_WIDTH // max(small, default=_ZOOM_WIDTH))
    shown = "\n".join(f'<h2>{escape(heading)}</h2>\n<div class="figures">'
                      + "".join(_image(caption, data, zoom) for caption, data in images) + "</div>"
                      for heading, images in read)
    return _PAGE.substitute(
        policy=_POLICY, title=escape(title), style=_STYLE, intro=escape(intro), heads=heads,
        rows="\n".join(_row(name, cells) for name, cells in rows),
        notes="\n".join(f"<p><b>{escape(label)}:</b> {escape(text)}</p>" for label, text in notes),
        figures=shown, script=_SCRIPT)
