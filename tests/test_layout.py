"""Package layout, the import boundary, and the README's quick start."""
import re
import subprocess
import sys

import pytest

from conftest import ROOT


def test_user_cli_imports_nothing_of_the_lab():
    """`amssfx --help` and the user commands load neither the lab nor torch."""
    code = ("import sys, amssfx.cli; from amssfx.cli import build_parser; build_parser(); "
            "bad = [m for m in sys.modules if m.startswith('amssfx.lab') or m in ('torch', 'PyQt6')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert r.returncode == 0, r.stdout + r.stderr


def test_core_imports_neither_torch_nor_qt():
    code = ("import sys, amssfx, amssfx.engine, amssfx.cli, amssfx.stems, amssfx.session, amssfx.effects; "
            "bad = [m for m in ('torch', 'PyQt6') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert r.returncode == 0, r.stdout + r.stderr


def test_gui_and_export_live_under_amssfx(tmp_path):
    code = ("import importlib.util as u, amssfx.gui, amssfx.export; "
            "print(u.find_spec('gui'), u.find_spec('export'))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "None None"


def test_no_module_is_over_about_400_lines():
    """Small modules with one purpose (the lab's and the product's alike)."""
    sizes = {str(f.relative_to(ROOT)): len(f.read_text().splitlines())
             for d in ("amssfx", "gui", "export") for f in (ROOT / d).rglob("*.py")}
    assert len(sizes) > 40
    assert {f: n for f, n in sizes.items() if n > 400} == {}


def test_readme_quick_start_is_two_commands():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```(?:sh|bash)?\n(.*?)```", text, re.S).group(1)
    commands = [l.strip() for l in block.splitlines() if l.strip() and not l.strip().startswith("#")]
    assert commands == ["make run", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.slow
def test_make_run_headless_runs_the_cli_on_the_demo():
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "QT_QPA_PLATFORM", "MAKEFLAGS", "MAKELEVEL")}
    r = subprocess.run(["make", "-s", "run"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    out = ROOT / "out" / "demo_processed.wav"
    assert f"result: {out}" in r.stdout
    import soundfile as sf

    info = sf.info(str(out))
    assert info.frames == sf.info(str(ROOT / "amssfx" / "assets" / "demo.flac")).frames


DOCS = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))


def test_readme_python_snippets_run(tmp_path):
    """The Python examples of the README and the API document run and print what they say."""
    for doc in (ROOT / "README.md", ROOT / "docs" / "api.md"):
        blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)
        assert blocks, doc
        for code in blocks:
            r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
            assert r.returncode == 0, r.stderr[-2000:]
            assert "True 44100" in r.stdout


def test_readme_is_a_users_document_and_its_links_resolve():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    for link in re.findall(r"\]\(([^)#]+)\)", text):
        if link.startswith(("https://", "http://")):  # the web is not reachable from the test machine
            continue
        assert (ROOT / link).exists(), link


def test_readme_cli_examples_parse():
    """Every `amssfx ...` line of the README and the documents parses with the real argument parser."""
    import shlex

    from amssfx.cli import build_parser
    from amssfx.lab.cli import build_parser as build_lab_parser

    lines = [l.split("#")[0].strip() for doc in DOCS for l in doc.read_text().splitlines()
             if l.strip().startswith(("amssfx ", "amssfx-lab "))]
    assert len(lines) >= 10
    for line in lines:
        prog, *argv = shlex.split(line)
        (build_lab_parser if prog == "amssfx-lab" else build_parser)().parse_args(argv)


def test_evaluation_document_shows_the_bundled_models_tables_real_timbre_first():
    from amssfx.engine import Engine
    from amssfx.lab.evaluate import HELD_OUT
    from amssfx.hashing import file_sha256

    doc = (ROOT / "docs" / "evaluation.md").read_text()
    sha = Engine().model.contract.checkpoint_sha256
    assert sha == file_sha256(ROOT / "amssfx" / "assets" / "default.pt")
    positions = []
    for held in HELD_OUT.values():
        table = (ROOT / "amssfx" / "assets" / held.table).read_text().strip()
        assert table in doc, held.name
        assert f"checkpoint sha256 `{sha[:12]}`" in table, held.name
        positions.append(doc.index(table))
    assert positions == sorted(positions)  # in the order of HELD_OUT: recorded first


@pytest.mark.slow
def test_core_install_in_a_fresh_venv_runs_the_cli_without_torch_or_qt(tmp_path):
    """`pip install .` (no extras) gives a working `amssfx process`; torch and PyQt6 are not installed."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", str(ROOT)], capture_output=True, text=True,
                       timeout=1200, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run([str(py), "-c", "import importlib.util as u; print(u.find_spec('torch'), u.find_spec('PyQt6'))"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.stdout.strip() == "None None", r.stdout + r.stderr
    out = tmp_path / "out.wav"
    r = subprocess.run([str(venv / "bin" / "amssfx"), "process", str(ROOT / "amssfx" / "assets" / "demo.flac"),
                        "-q", "mute vocals", "-o", str(out), "--quiet"], capture_output=True, text=True,
                       timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    import soundfile as sf

    assert sf.info(str(out)).frames == 30 * 44100
    r = subprocess.run([str(venv / "bin" / "amssfx"), "--version"], capture_output=True, text=True, cwd=tmp_path)
    assert r.stdout.startswith("amssfx ") and r.returncode == 0
