"""Render an audit's results as ``report.md`` and ``report.html`` (no extra dependencies).

Both documents are produced from the same markdown (:func:`to_markdown`) so the numbers
in them are the numbers in ``results.json``.  ``report.html`` embeds its figures as
``data:`` URIs, so it opens with them when copied alone; ``report.md`` links the PNG files
beside it.
"""
from __future__ import annotations

import base64
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
        lines.append(f"Upper bound on the defender's training hinge loss (not an error) under any "
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


def headline_lines(results):
    """The headline (``results["headline"]``) as bullet points: the resolution, each
    defense's clean baseline, the worst cell, the defender's best choice, then the
    certificates in errors, each starting with its label (**Proven** or **Approximate,
    not proven**)."""
    h = results.get("headline")
    if not h:
        return []
    n = h["n_test"]
    lines = [f"Test set: {n} points; one test point = {100 * h['resolution']:.2f}% of test error. "
             "Errors are given as a percentage and as mistakes out of the test set."]
    lines.append("Clean baseline of each defense (test error with no attack): " + ", ".join(
        f"{d} {_pct(b['error'])} ({b['mistakes']}/{n})" for d, b in h["baselines"].items()) + ".")
    for key, what in (("worst", "Worst (attack, defense) cell measured"),
                      ("largest_rise", "Largest rise over a defense's own clean baseline")):
        c = h.get(key)
        if c and (key == "worst" or (c["attack"], c["defense"]) != (h["worst"]["attack"],
                                                                     h["worst"]["defense"])):
            lines.append(f"{what}: **{c['attack']} under {c['defense']}**: {_pct(c['baseline'])} -> "
                         f"**{_pct(c['error'])}** ({c['baseline_mistakes']} -> {c['mistakes']} of {n} "
                         f"mistakes; +{100 * c['rise']:.1f} percentage points).")
    c = h.get("defender_choice")
    if c:
        lines.append(f"Defender's best choice against the attacks run (lowest worst-case error): "
                     f"**{c['defense']}**, at worst {_pct(c['error'])} ({c['mistakes']}/{n}, "
                     f"{c['worst_attack']}) against {_pct(c['clean_error'])} ({c['clean_mistakes']}/{n}) "
                     f"clean; lowest clean error: {c['best_clean_defense']} "
                     f"{_pct(c['best_clean_error'])} ({c['best_clean_mistakes']}/{n}).  These are "
                     f"the attacks tried, not a bound: a stronger attack may do more.")
    for cert in h.get("certified", []):
        label = "Proven" if cert["status"] == "proven" else "Approximate, not proven"
        text = cert["text"]
        if text.startswith("Approximate, not proven: "):
            text = text[len("Approximate, not proven: "):]
        lines.append(f"**{label}** ({cert['quantity']}): {text}")
    return lines


def defender_line(results) -> str:
    """The model audited: its ``--defender`` spelling, where it came from, and ``C_R`` on
    the clean set with where that came from."""
    s, d = results["settings"], results["dataset"]
    D = results.get("defender") or {}
    spec = D.get("spec") or f"svm:reg={s['reg']!r},intercept=penalized"
    source = D.get("source") or "the package's default"
    where = d.get("reg_source") or "given"
    if D.get("convention") == "sum":
        where = "scikit-learn's C on the sum of losses: C_R = 1/(C n)"
    intercept = ("intercept penalised" if D.get("penalize_intercept", True)
                 else "intercept free (not penalised)")
    return (f"defender `{spec}` ({source}; linear, {D.get('loss', 'hinge')} loss, {intercept}); "
            f"C_R = {s['reg']:.4g} on the clean training set ({where})")


def write_reports(results, out):
    out = Path(out)
    from .fileio import write_text

    write_text(out / "report.md", to_markdown(results))
    write_text(out / "report.html", to_html(results, out))


def to_markdown(results) -> str:
    s, d = results["settings"], results["dataset"]
    md = [f"# Poisoning audit: {d['name']}", "", f"**Verdict.** {results.get('verdict', '')}", ""]
    head = headline_lines(results)
    if head:
        md += ["## Verdict in errors", ""] + [f"* {line}" for line in head] + [""]
    md += [f"Dataset {d['name']} ({d.get('description') or 'no description'}): "
           f"{d['n_train']} training and {d['n_test']} test points, d = {d['d']}; "
           f"{defender_line(results)}; budget ε = {s['epsilon']:g}; each defense removes "
           f"{100 * s['p']:g}% of each class.", ""]
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
        md += [f"![{FIGURE_CAPTIONS.get(name, name)}]({fname})" for name, fname in figs.items()]
    md += ["", "## Reproduce", ""] + [f"* {line}" for line in reproduce_lines(results)]
    md += ["", f"Audit time: {results.get('seconds', 0):.0f} s. Numbers: `results.json`.", ""]
    return "\n".join(md)


#: What each figure of the audit shows (its caption in the report).
FIGURE_CAPTIONS = {
    "mtp_convergence": "MTP convergence: max loss difference and distance to the target model "
                       "against the poisons used",
    "lower_bound": "Poison points needed to induce the target model: Theorem 4.2 at MTP's "
                   "iterates, and the bounds certified over all models (the headline's number)",
    "error_vs_epsilon": "Test error without a defense against the poison fraction: MTP's "
                        "iterates, and each attack at the audit's budget",
}


def _data_uri(path):
    """``path`` (a PNG) as a ``data:`` URI, or None when the file is missing."""
    try:
        return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")
    except OSError:
        return None


def _inline(text):
    """Escape and turn **bold** and `code` into HTML."""
    out = html.escape(text)
    parts = out.split("**")
    out = "".join(p if i % 2 == 0 else f"<b>{p}</b>" for i, p in enumerate(parts))
    parts = out.split("`")
    return "".join(p if i % 2 == 0 else f"<code>{p}</code>" for i, p in enumerate(parts))


def to_html(results, out=None) -> str:
    """The same content as :func:`to_markdown`, as a self-contained HTML page: each figure
    (a PNG in the directory ``out``) embedded as a ``data:`` URI; one that is missing is
    named, never linked."""
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
            items = []
            while i < len(lines) and lines[i].startswith("* "):
                items.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            body.append("<ul>" + "".join(items) + "</ul>")
            continue
        elif line.startswith("!["):
            alt, src = line[2:].rsplit("](", 1)
            uri = None if out is None else _data_uri(Path(out) / src[:-1])
            img = (f'<img src="{uri}" alt="{html.escape(alt)}">' if uri else
                   f"<p>(figure {html.escape(src[:-1])} not found)</p>")
            body.append(f"<figure>{img}<figcaption>{html.escape(alt)}</figcaption></figure>")
        elif line:
            body.append(f"<p>{_inline(line)}</p>")
        i += 1
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
             "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:.25em .6em;"
             "text-align:right}th{background:#eee}img{max-width:100%}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>convexpoison audit</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")
