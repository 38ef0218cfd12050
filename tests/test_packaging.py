"""What the installed wheel carries besides code: its licence and the notices of the word lists.

The extension compiles in the NLTK stop words and WordNet 3.0 lemmas; WordNet's licence asks that
its notice appear on all copies, so every wheel must hold it (PEP 639 ``.dist-info/licenses``).
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata


def test_the_wheel_carries_its_licence_and_the_word_list_notices():
    dist = metadata.distribution("l2t")
    assert dist.metadata["License-Expression"] == "Apache-2.0"
    licences = {
        f.name: f.read_text()
        for f in dist.files or []
        if "/licenses/" in f.as_posix() and f.suffix in ("", ".txt")
    }
    assert "Apache License" in licences["LICENSE"] and "Version 2.0" in licences["LICENSE"]
    assert "Princeton University" in licences["NOTICE-wordnet.txt"]
    assert "NLTK" in licences["NOTICE-stopwords.txt"]
    assert set(dist.metadata.get_all("License-File") or []) >= {
        "LICENSE",
        "rust/l2t-core/data/NOTICE-stopwords.txt",
        "rust/l2t-core/data/NOTICE-wordnet.txt",
    }


def test_bare_l2t_prints_its_help():
    proc = subprocess.run([sys.executable, "-m", "l2t.cli"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == ""
    assert "generate" in proc.stdout and "usage: l2t" in proc.stdout


def test_a_missing_optional_dependency_is_one_line_naming_the_extra(tmp_path):
    # Python refuses to import a module whose sys.modules entry is None: as if not installed.
    code = (
        "import sys; sys.modules['torch'] = None; from l2t.cli import main; "
        f"sys.exit(main(['train', '--config', {str(tmp_path / 'run.json')!r}]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr == (
        "l2t: error: `l2t train` needs torch, which is not installed: pip install 'l2t[train]'\n"
    )


def test_every_generate_option_with_a_default_says_it_in_its_help():
    proc = subprocess.run(
        [sys.executable, "-m", "l2t.cli", "generate", "--help"], capture_output=True, text=True
    )
    shown = " ".join(proc.stdout.split())  # argparse wraps lines
    for default in ("(default: default)", "(default: 0)", "(default: parquet)", "(default: raise)",
                    "(default: file)", "(default: 64.0)", "(default: 65536)"):  # fmt: skip
        assert default in shown, default
