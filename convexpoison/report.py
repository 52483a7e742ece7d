"""Render an audit's results as ``report.md`` and ``report.html`` (no extra dependencies).

Both documents are produced from the same :func:`sections` so the numbers in them are the
numbers in ``results.json``.
"""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np


def _pct(v):
    return "—" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{100 * v:.1f}%"


def attack_table(results):
    """Rows: attacks; columns: n_poisons, no defense, each defense, min over defenses."""
    defenses = results["settings"]["defenses"]
    head = ["attack", "poisons", "no defense"] + defenses + ["min over defenses", "status"]
    rows = [["clean (no attack)", "0", _pct(results["clean"]["test_error"])]
            + [_pct(results["clean"].get("per_defense", {}).get(d)) for d in defenses]
            + [_pct(min(results["clean"].get("per_defense", {}).values(), default=None)), "ok"]]
    for name, a in results["attacks"].items():
        if a.get("status") == "ok":
            rows.append([name, f"{a['n_poisons']:g}", _pct(a["no_defense_test_error"])]
                        + [_pct(a["per_defense"].get(d)) for d in defenses]
                        + [_pct(a["min_over_defenses"]), "ok"])
        else:
            rows.append([name, "—", "—"] + ["—"] * len(defenses) + ["—", a.get("status", "")])
    return head, rows


def certificate_lines(results):
    c = results.get("certificates", {})
    lines = []
    ub = c.get("upper_bound", {})
    if "upper_bound" in ub:
        lines.append(f"Upper bound on the defender's training loss under any "
                     f"{100 * results['settings']['epsilon']:g}% attack inside the L2+slab feasible "
                     f"set (Steinhardt et al. 2017): **{ub['upper_bound']:.4f}**"
                     + (f" (clean: {ub['clean_loss']:.4f})" if "clean_loss" in ub else ""))
    elif ub:
        lines.append(f"Upper bound on damage: {ub.get('status', 'not computed')}")
    for method, v in c.get("lower_bound", {}).items():
        what = v.get("method", method)
        if "lower_bound" in v:
            lines.append(f"No poison set with fewer than **{v['lower_bound']}** points makes "
                         f"training return the target model ({what}).")
        else:
            lines.append(f"Lower bound ({what}): {v.get('status', 'not computed')}")
    return lines


def reproduce_lines(results):
    env = results["environment"]
    cmd = results["settings"].get("command") or "convexpoison audit"
    return [f"`{cmd}`", "Versions: " + ", ".join(f"{k} {v}" for k, v in env.items())]


def write_reports(results, out):
    out = Path(out)
    from .fileio import write_text

    write_text(out / "report.md", to_markdown(results))
    write_text(out / "report.html", to_html(results))


def to_markdown(results) -> str:
    s, d = results["settings"], results["dataset"]
    md = [f"# Poisoning audit: {d['name']}", "", f"**Verdict.** {results.get('verdict', '')}", "",
          f"Dataset {d['name']}: {d['n_train']} training and {d['n_test']} test points, "
          f"d = {d['d']}; model: linear SVM, C_R = {s['reg']:g} (bias regularised); "
          f"budget ε = {s['epsilon']:g}; each defense removes {100 * s['p']:g}% of each class.", ""]
    if "target" in results and "target_test_error" in results["target"]:
        t = results["target"]
        md += [f"Target model (Koh label-flip heuristic): test error {_pct(t['target_test_error'])}, "
               f"clean loss {t['clean_loss']:.4f}.", ""]
    head, rows = attack_table(results)
    md += ["## Test error per attack and defense", "",
           "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    md += ["", "## Certificates", ""] + [f"* {line}" for line in certificate_lines(results)]
    figs = results.get("figures", {})
    if figs:
        md += ["", "## Figures", ""]
        md += [f"![{name}]({fname})" for name, fname in figs.items()]
    md += ["", "## Reproduce", ""] + [f"* {line}" for line in reproduce_lines(results)]
    md += ["", f"Audit time: {results.get('seconds', 0):.0f} s. Numbers: `results.json`.", ""]
    return "\n".join(md)


def _inline(text):
    """Escape and turn **bold** and `code` into HTML."""
    out = html.escape(text)
    parts = out.split("**")
    out = "".join(p if i % 2 == 0 else f"<b>{p}</b>" for i, p in enumerate(parts))
    parts = out.split("`")
    return "".join(p if i % 2 == 0 else f"<code>{p}</code>" for i, p in enumerate(parts))


def to_html(results) -> str:
    """The same content as :func:`to_markdown`, as a self-contained HTML page."""
    lines = to_markdown(results).splitlines()
    body, i = [], 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("| "):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                if not lines[i].startswith("|---"):
                    rows.append([c.strip() for c in lines[i].strip("|").split("|")])
                i += 1
            body.append("<table>" + "".join(
                "<tr>" + "".join(f"<{'th' if r == 0 else 'td'}>{_inline(c)}</{'th' if r == 0 else 'td'}>"
                                 for c in row) + "</tr>" for r, row in enumerate(rows)) + "</table>")
            continue
        if line.startswith("# "):
            body.append(f"<h1>{_inline(line[2:])}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{_inline(line[3:])}</h2>")
        elif line.startswith("* "):
            body.append(f"<li>{_inline(line[2:])}</li>")
        elif line.startswith("!["):
            alt, src = line[2:].split("](")
            body.append(f'<figure><img src="{html.escape(src[:-1])}" alt="{html.escape(alt)}">'
                        f"<figcaption>{html.escape(alt)}</figcaption></figure>")
        elif line:
            body.append(f"<p>{_inline(line)}</p>")
        i += 1
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
             "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:.25em .6em;"
             "text-align:right}th{background:#eee}img{max-width:100%}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>convexpoison audit</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")
