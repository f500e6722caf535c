"""The house's rules: one import direction (import-linter's contracts), commands that import only
what they need, and documents whose links resolve and that name every command and option."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import mask_png, synthetic_examples, write_zip

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "matplotlib", "scipy", "segyio", "tifffile", "h5py", "onnx", "segmentation_models_pytorch")
COMMANDS = ("prepare", "rle", "train", "predict", "threshold", "evaluate", "export")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports on the package under ``root`` with the repository's contracts."""
    return subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()",
         str(REPO / "pyproject.toml"), "--no-cache", "--no-logo"],
        cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, text=True,
    )


def test_the_layers_hold_and_an_import_against_the_grain_breaks_them(tmp_path: Path) -> None:
    copy = tmp_path / "saltseg"
    shutil.copytree(REPO / "saltseg", copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert _lint_imports(tmp_path).returncode == 0
    sweep = copy / "inference" / "sweep.py"
    sweep.write_text(sweep.read_text() + "\nfrom saltseg.training import stage  # noqa: E402\n")
    broken = _lint_imports(tmp_path)
    assert broken.returncode == 1
    assert "saltseg.inference is not allowed to import saltseg.training" in broken.stdout
    assert "saltseg.inference.sweep -> saltseg.training.stage" in broken.stdout


def _modules_after(args: list[str], cwd: Path) -> tuple[int, list[str]]:
    """Run ``saltseg ARGS`` in a fresh interpreter; return its exit code and the heavy packages imported."""
    code = (
        "import sys\nfrom saltseg.cli import app\n"
        f"try:\n    app({args!r})\nexcept SystemExit as exc:\n    status = exc.code or 0\n"
        f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
        "print('\\n' + __import__('json').dumps([status, heavy]))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True)
    status, heavy = json.loads(done.stdout.strip().splitlines()[-1])
    return status, heavy


@pytest.mark.parametrize("args", [["--version"], ["--help"], *[[c, "--help"] for c in COMMANDS]])
def test_help_and_version_import_no_heavy_package(args: list[str], tmp_path: Path) -> None:
    assert _modules_after(args, tmp_path) == (0, [])


def test_rle_encodes_and_decodes_without_torch(tmp_path: Path) -> None:
    examples = synthetic_examples(40)
    masks = {f"masks/{k}.png": mask_png(m) for k, (_, m) in examples.items()}
    archive = write_zip(tmp_path / "masks.zip", masks)
    ids = tmp_path / "sample_submission.csv"
    ids.write_text("id,rle_mask\n" + "".join(f"{k},1 1\n" for k in sorted(examples, reverse=True)))
    status, heavy = _modules_after(["rle", str(archive), "--ids", str(ids), "-o", "sub.csv"], tmp_path)
    assert (status, heavy) == (0, ["h5py"])  # the data stage's own file format; no torch, no plots
    rows = (tmp_path / "sub.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == sorted(examples, reverse=True)
    status, heavy = _modules_after(["rle", "--decode", "sub.csv", "--out", "back"], tmp_path)
    assert (status, heavy) == (0, ["h5py"])
    assert len(list((tmp_path / "back").glob("*.png"))) == len(examples)


def _markdown_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_every_relative_link_in_the_documents_resolves() -> None:
    broken = []
    for page in _markdown_files():
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            path = target.split("#")[0]
            if path and not re.match(r"[a-z]+:", path) and not (page.parent / path).exists():
                broken.append(f"{page.relative_to(REPO)} -> {target}")
    assert broken == []


def _help(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "saltseg", *args, "--help"], capture_output=True, text=True,
                          check=True, env={**os.environ, "COLUMNS": "250", "TERM": "dumb"})
    return done.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_of_a_command_is_named_in_its_page(command: str) -> None:
    page = (REPO / "docs" / f"{command}.md").read_text()
    rows = "\n".join(line for line in _help(command).splitlines() if line.startswith("│"))
    options = set(re.findall(r"(?<![\w-])(--?[a-z][a-z0-9-]*)", rows)) - {"--help"}
    assert options, "no options parsed from the help"
    assert sorted(o for o in options if not re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", page)) == []


def test_every_command_has_a_page_linked_from_the_readme() -> None:
    listed = set(re.findall(r"^\W{1,3}([a-z]+)  ", _help(), flags=re.M))
    assert listed == set(COMMANDS)
    readme = (REPO / "README.md").read_text()
    assert all(f"docs/{c}.md" in readme for c in COMMANDS)


def test_rle_of_the_sample_submission_imports_no_torch(shared_data: Path, tmp_path: Path) -> None:
    sample = shared_data / "sample_submission.csv"
    status, heavy = _modules_after(["rle", "--decode", str(sample), "--out", "masks"], tmp_path)
    assert (status, heavy) == (0, ["h5py"])
    assert len(list((tmp_path / "masks").glob("*.png"))) == len(sample.read_text().splitlines()) - 1
