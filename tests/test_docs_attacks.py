"""docs/attacks.md's worked examples run as written (in order, in one namespace), so the
page shows the contract as the code has it."""
import re
from pathlib import Path

PAGE = Path(__file__).resolve().parent.parent / "docs" / "attacks.md"


def test_attacks_page_examples_run(capsys):
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)
    assert len(blocks) >= 8                 # the setup, one per attack, the evaluation
    namespace = {}
    for code in blocks:
        exec(compile(code, str(PAGE), "exec"), namespace)
    out = capsys.readouterr().out
    for name in ("RandomLabelFlip", "AlfaLabelFlip", "CompetingLabelFlip", "KKTAttack"):
        assert name in out
