"""Every subcommand explains itself and obeys --quiet / --verbose the same way."""

from __future__ import annotations

import logging

import pytest

from ximagenet12.core import verbosity
from ximagenet12.cli import EXAMPLES, build_parser, main

ENV = ("TRANSFORMERS_VERBOSITY", "DATASETS_VERBOSITY", "HF_HUB_VERBOSITY", "HF_HUB_DISABLE_PROGRESS_BARS",
       "HF_DATASETS_DISABLE_PROGRESS_BARS", "TRANSFORMERS_NO_ADVISORY_WARNINGS")


def _subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices


def test_every_subcommand_has_a_description_an_example_and_the_loudness_switches():
    for name, parser in _subcommands().items():
        text = parser.format_help()
        assert parser.description, f"{name}: no description"
        assert "example:" in text and f"ximagenet12 {name}" in text.split("example:", 1)[1], f"{name}: no example"
        assert "--quiet" in text and "--verbose" in text, name


def test_every_example_names_a_real_subcommand():
    # an example for a command that does not exist would be help for nothing
    assert set(EXAMPLES) <= set(_subcommands())


def test_quiet_and_verbose_exclude_each_other(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["scenarios", "--quiet", "--verbose"])
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.fixture
def restored(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    yield
    verbosity.configure("normal")


def test_quiet_silences_the_libraries_and_their_progress_bars(restored):
    import datasets
    import huggingface_hub.utils as hub_utils
    from transformers.utils import logging as tlog

    verbosity.configure("quiet")
    assert tlog.get_verbosity() == logging.ERROR and not tlog.is_progress_bar_enabled()
    assert datasets.logging.get_verbosity() == logging.ERROR and not datasets.is_progress_bar_enabled()
    assert hub_utils.are_progress_bars_disabled()
    verbosity.configure("verbose")
    assert tlog.get_verbosity() == logging.INFO and tlog.is_progress_bar_enabled()
    assert datasets.is_progress_bar_enabled() and not hub_utils.are_progress_bars_disabled()


def test_the_command_line_applies_the_switch(restored, capsys):
    import os

    assert main(["scenarios", "--json", "--quiet"]) == 0
    assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1" and os.environ["TRANSFORMERS_VERBOSITY"] == "error"
    assert capsys.readouterr().out.lstrip().startswith("[")  # our own results still print


def test_an_unknown_verbosity_is_refused():
    with pytest.raises(ValueError, match="verbosity must be one of quiet, normal, verbose, got 'loud'"):
        verbosity.configure("loud")


def test_the_parser_builds_in_a_process_where_torch_and_transformers_cannot_be_imported():
    # Whatever this test process has already imported, a fresh one proves that listing and
    # parsing the commands loads no heavy library: a user without the [eval] extra gets the
    # one-line hint from the command itself, not an ImportError from the parser.
    import subprocess
    import sys

    code = (
        "import sys\n"
        "for name in ('torch', 'transformers', 'datasets', 'ray', 'gradio'):\n"
        "    sys.modules[name] = None\n"
        "from ximagenet12.cli import build_parser, main\n"
        "build_parser()\n"
        "raise SystemExit(main(['evaluate-segmentation', '--model', 'm', '--data', 'd', '--out', 'o']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == ('ximagenet12 evaluate-segmentation: error: needs the [eval] extra (torch, transformers not installed): '
                           'pip install "ximagenet12[eval]"\n')
