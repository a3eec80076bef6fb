"""The HTML page of ``rawcomplete check --report``: one self-contained file, read at a glance.

At the top, the verdict and a table of every file (status, PSNR, largest difference, message).
Then, per file (files that moved or failed first, open; passing files folded): the reference,
the image now and a heat map of the absolute difference (log scale, :data:`runner.check.HEAT_RANGE`,
the largest difference of each block of the preview, so a few changed pixels stay visible), the
figures, the metadata that changed, and the settings, inputs and versions that differ. Images are
PNG data URIs; the page has no script and loads nothing from elsewhere.
"""

from __future__ import annotations

import base64
import html
import json
import math
from typing import Any, Mapping

import numpy as np

STATUS_COLOURS = {"pass": "#1b7f3b", "updated": "#2a5db0", "moved": "#b3261e", "new": "#9a6700", "failed": "#b3261e"}
ORDER = {"failed": 0, "moved": 1, "new": 2, "updated": 3, "pass": 4}

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d1d1f;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:0}
.verdict{font-size:18px;font-weight:600;margin:8px 0 16px}
table{border-collapse:collapse;margin:6px 0 12px} td,th{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f2f2f2} td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;color:#fff;border-radius:4px;padding:1px 7px;font-weight:600;font-size:12px}
details{border:1px solid #ddd;border-radius:6px;margin:12px 0;padding:8px 12px}
summary{cursor:pointer} .row{display:flex;gap:12px;flex-wrap:wrap;margin:10px 0}
figure{margin:0} figcaption{font-size:12px;color:#555;text-align:center}
figure img{display:block;border:1px solid #999;image-rendering:pixelated;max-width:480px}
.legend{display:flex;align-items:center;gap:6px;font-size:12px;color:#555}
.legend img{height:12px;width:240px;border:1px solid #999}
ul{margin:4px 0 8px 18px;padding:0} .muted{color:#666}
"""


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _legend_png() -> bytes:
    from runner.check import HEAT_RANGE, _png8, heat_colours

    lo, hi = (math.log10(v) for v in HEAT_RANGE)
    ramp = 10 ** np.linspace(lo - 0.3, hi, 240)
    return _png8(heat_colours(np.tile(ramp, (4, 1))) / 255.0)


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return html.escape(str(v))


def _badge(status: str) -> str:
    return f'<span class="badge" style="background:{STATUS_COLOURS.get(status, "#555")}">{html.escape(status)}</span>'


def _list(title: str, items: list[str]) -> str:
    if not items:
        return ""
    return f"<p><b>{html.escape(title)}</b></p><ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"


def _figures_table(rec: Mapping[str, Any]) -> str:
    fig = rec.get("figures") or {}
    if not fig:
        return ""
    psnr = fig.get("psnr")
    rows = [
        ("PSNR (dB, at the reference's scale)", "∞ (identical)" if psnr is None and "max_abs" in fig else _fmt(psnr)),
        ("largest |difference|", _fmt(fig.get("max_abs"))),
        ("mean |difference|", _fmt(fig.get("mean_abs"))),
        ("largest change of a statistic", _fmt(fig.get("stats_max_diff"))),
        ("identical at full resolution (16-bit)", _fmt(fig.get("identical_full"))),
        ("changed region (rows y0-y1, columns x0-x1, full resolution)",
         "—" if not fig.get("changed_box") else "rows {}-{}, columns {}-{}".format(*[fig["changed_box"][i] - (i > 1) for i in (0, 2, 1, 3)])),
        ("pixels beyond tolerance (full-resolution estimate)", _fmt(fig.get("changed_pixels"))),
    ]
    return "<table>" + "".join(f"<tr><th>{html.escape(a)}</th><td class=num>{b}</td></tr>" for a, b in rows) + "</table>"


def _stats_table(rec: Mapping[str, Any]) -> str:
    ref, now = rec.get("reference") or {}, rec.get("now") or {}
    if "stats" not in ref or "stats" not in now:
        return ""
    head = "<tr><th>statistic</th>" + "".join(f"<th>{c} reference</th><th>{c} now</th>" for c in "RGB") + "</tr>"
    body = ""
    for key, values in now["stats"].items():
        cells = "".join(
            f"<td class=num>{_fmt(a, 6)}</td><td class=num>{_fmt(b, 6)}</td>"
            for a, b in zip(ref["stats"].get(key, []), values)
        )
        body += f"<tr><th>{html.escape(key)}</th>{cells}</tr>"
    return f"<details><summary>per-channel statistics (full resolution)</summary><table>{head}{body}</table></details>"


def _metadata_table(rec: Mapping[str, Any]) -> str:
    ref, now = (rec.get("reference") or {}).get("metadata"), (rec.get("now") or {}).get("metadata")
    if not ref or not now:
        return ""
    rows = ""
    for key in now:
        a, b = ref.get(key), now.get(key)
        changed = json.dumps(a) != json.dumps(b)
        style = ' style="background:#fde7e4"' if changed else ""
        rows += (f"<tr{style}><th>{html.escape(key)}</th><td>{html.escape(json.dumps(a))}</td>"
                 f"<td>{html.escape(json.dumps(b))}</td></tr>")
    return ("<details><summary>metadata the result carries (changed rows shaded)</summary>"
            f"<table><tr><th>field</th><th>reference</th><th>now</th></tr>{rows}</table></details>")


def _file_section(rec: Mapping[str, Any], images: Mapping[str, bytes], legend: str) -> str:
    status = rec["status"]
    shape = (rec.get("now") or {}).get("shape") or (rec.get("reference") or {}).get("shape")
    head = (f"{_badge(status)} <b>{html.escape(rec.get('key', rec['input']))}</b>"
            f" <span class=muted>{html.escape(rec['input'])}{f' · {shape[1]} × {shape[0]} px' if shape else ''}</span>")
    pictures = ""
    captions = {"reference": "reference", "now": "now", "heat": "|difference| heat map"}
    figs = [f'<figure><img alt="{k} {html.escape(rec.get("key", ""))}" class="{k}" src="{data_uri(images[k])}">'
            f"<figcaption>{captions[k]}</figcaption></figure>" for k in ("reference", "now", "heat") if k in images]
    if figs:
        pictures = '<div class="row">' + "".join(figs) + "</div>"
        if "heat" in images:
            pictures += legend
    outcome = ""
    for side in ("reference", "now"):
        r = rec.get(side) or {}
        if r.get("outcome") == "refused":
            outcome += f"<p><b>{side}</b>: refused with {html.escape(r['error']['class'])}: {html.escape(r['error']['message'])}</p>"
    error = rec.get("error") or {}
    body = (
        f"<p>{html.escape(rec.get('message') or '')}</p>"
        + (f"<p><b>{html.escape(error.get('class', ''))}</b>: {html.escape(error.get('message', ''))}</p>" if error else "")
        + outcome + pictures + _figures_table(rec)
        + _list("what moved", list(rec.get("problems") or []))
        + _list("what differs (possible causes)", list(rec.get("causes") or []))
        + _list("notes", list(rec.get("notes") or []))
        + _metadata_table(rec) + _stats_table(rec)
    )
    anchor = f"f{rec['index']}"
    is_open = " open" if status in ("moved", "failed", "new") else ""
    return f'<details id="{anchor}" class="file {html.escape(status)}"{is_open}><summary>{head}</summary>{body}</details>'


def render_html(report: Mapping[str, Any], images: Mapping[int, Mapping[str, bytes]]) -> str:
    """The report page (UTF-8 HTML text) of a ``report`` made by :func:`runner.check.run_check`;
    ``images`` maps each record's ``index`` to its PNG bytes (``reference``, ``now``, ``heat``)."""
    from runner.check import HEAT_RANGE

    s = report["summary"]
    records = sorted(report["records"], key=lambda r: (ORDER.get(r["status"], 9), r["index"]))
    ok = report["exit_code"] == 0
    verdict = ("everything within tolerance" if ok and not report["update"] else
               "references written" if ok else "something moved" if not report["update"] else "some files failed")
    counts = ", ".join(f"{s[k]} {k}" for k in ("pass", "moved", "new", "updated", "failed") if s.get(k))
    legend = (f'<div class="legend">|difference| {HEAT_RANGE[0]:g} <img alt="heat scale" src="{data_uri(_legend_png())}">'
              f" {HEAT_RANGE[1]:g} and above (log scale; tolerance max = {report['tolerances']['max']:g})</div>")
    rows = ""
    for r in records:
        fig = r.get("figures") or {}
        psnr = "∞" if fig.get("psnr") is None and "max_abs" in fig else _fmt(fig.get("psnr"))
        rows += (f'<tr><td>{_badge(r["status"])}</td><td><a href="#f{r["index"]}">{html.escape(r.get("key", r["input"]))}</a></td>'
                 f"<td class=num>{psnr}</td><td class=num>{_fmt(fig.get('max_abs'))}</td>"
                 f"<td>{html.escape(r.get('message') or '')}</td></tr>")
    settings = ", ".join(f"{k} = {json.dumps(v)}" for k, v in report["settings"].items())
    versions = ", ".join(f"{k} {v}" for k, v in report["versions"].items())
    tol = ", ".join(f"{k} {v:g}" for k, v in report["tolerances"].items())
    not_checked = (f"<p class=muted>{len(report['not_checked'])} reference(s) in REFDIR not checked this run: "
                   f"{html.escape(', '.join(report['not_checked'][:20]))}{' …' if len(report['not_checked']) > 20 else ''}</p>"
                   if report["not_checked"] else "")
    sections = "".join(_file_section(r, images.get(r["index"], {}), legend) for r in records)
    colour = STATUS_COLOURS["pass" if ok else "moved"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>rawcomplete check: {html.escape(verdict)}</title>
<style>{CSS}</style></head><body>
<h1>rawcomplete check{' --update' if report['update'] else ''}</h1>
<div class="verdict" style="color:{colour}">{html.escape(verdict)}: {html.escape(counts or 'no files')} of {s['files']} file(s) (exit {report['exit_code']})</div>
<table>
<tr><th>REFDIR</th><td>{html.escape(report['refdir'])}</td></tr>
<tr><th>inputs</th><td>{html.escape(' '.join(report['inputs']))}</td></tr>
<tr><th>settings</th><td>{html.escape(settings)}</td></tr>
<tr><th>tolerances</th><td>{html.escape(tol)}</td></tr>
<tr><th>versions now</th><td>{html.escape(versions)}</td></tr>
<tr><th>when</th><td>{html.escape(report['started'])} ({report['seconds']:.1f} s)</td></tr>
</table>
{not_checked}
<table class="files"><tr><th>status</th><th>file</th><th>PSNR dB</th><th>max |diff|</th><th>message</th></tr>{rows}</table>
{sections}
</body></html>
"""
