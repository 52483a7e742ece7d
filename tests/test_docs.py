"""The documentation stays in step with the code.

* ``docs/cli.md`` is generated from the argparse parser by ``docs/gen_cli.py``; a flag
  added, renamed or re-documented in a command module without regenerating the page
  makes the committed page differ from the regenerated one.
* Every page named in ``mkdocs.yml``'s ``nav`` exists (``mkdocs build --strict`` would
  stop on a missing one, but the default test suite does not install mkdocs).
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _gen_cli():
    spec = importlib.util.spec_from_file_location("gen_cli", DOCS / "gen_cli.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _nav_pages():
    """The ``.md`` files named in the ``nav:`` block of mkdocs.yml (no YAML library needed)."""
    text = (ROOT / "mkdocs.yml").read_text()
    nav = re.search(r"^nav:\s*\n((?:[ \t]+.*\n?|\s*\n)*)", text, re.M)
    assert nav, "mkdocs.yml has no nav block"
    return re.findall(r"[:\-]\s*['\"]?([\w./-]+\.md)['\"]?\s*$", nav.group(1), re.M)


def test_cli_reference_is_up_to_date():
    gen = _gen_cli()
    committed = (DOCS / "cli.md").read_text()
    fresh = gen.render()
    assert committed == fresh, ("docs/cli.md is out of date with convexpoison.cli; "
                                "run: .venv/bin/python docs/gen_cli.py")
    # the generator really walked the parser: every sub-command has a section
    from convexpoison.cli import COMMANDS, _module

    for cmd, target in COMMANDS.items():
        subs = target.items() if isinstance(target, dict) else [(None, target)]
        for sub, modname in subs:
            if _module(modname) is None:          # not implemented: not offered
                continue
            title = " ".join(w for w in ("convexpoison", cmd, sub) if w)
            assert f"`{title}`" in fresh, title
    assert "`--eps-close EPS_CLOSE`" in fresh        # a documented flag, with its metavar


def test_every_nav_page_exists():
    pages = _nav_pages()
    assert "index.md" in pages and "cli.md" in pages
    missing = [p for p in pages if not (DOCS / p).is_file()]
    assert not missing, f"pages in mkdocs.yml nav but not in docs/: {missing}"
    # and no page is written but left out of the navigation
    on_disk = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert on_disk <= set(pages), f"pages not in the nav: {sorted(on_disk - set(pages))}"
