"""Nothing injected into a card (issue 25): repo ids, class names and other user text.

Repo ids pass ``huggingface_hub``'s own validator or are refused; class names that cannot
round-trip through the folder reader, ``ClassLabel``, the parquet files and the card are
refused with one line naming the folder; everything else is escaped, and the card renders
each string back exactly (checked with a real CommonMark + GFM-table parser,
``markdown-it-py``, not by re-running the escaping code).
"""

from __future__ import annotations

import contextlib
import io

import hostile
import pytest
from hostile_cards import ESCAPED_CLASSES, HOSTILE_REPO_IDS, UNROUNDTRIPPABLE_CLASSES, class_folders

from ximagenet12.cli import main
from ximagenet12.hub.validate import card_code, card_plain, card_text, check_repo_id

#: Text that is legal but means something to Markdown or HTML: escaped, and must read back exactly.
TRICKY_TEXT = [
    "plain words, with a comma",
    "a&b <b>bold</b> &amp; &lt;",
    "[x](javascript:alert(1)) ![img](http://x/y.png)",
    "*em* **strong** _under_ ~~gone~~ `code` ``two``",
    "# not a heading | not a cell \\ backslash",
    "- not a list item",
    "$x^2$ math and {braces}",
    "<script>alert(1)</script>",
    "`starts and ends with a backtick`",
    "tabby, tabby cat",
]


def _cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


def _markdown():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table")


def _cells(markdown: str) -> list[list[tuple[str, list[str]]]]:
    """Per table row: (text as rendered, inline token types) of each cell."""
    rows, row = [], None
    for token in _markdown().parse(markdown):
        if token.type == "tr_open":
            row = []
        elif token.type == "tr_close":
            rows.append(row)
            row = None
        elif token.type == "inline" and row is not None:
            children = token.children or []
            row.append(("".join(c.content for c in children), [c.type for c in children]))
    return rows


# --------------------------------------------------------------------------- repo ids


@pytest.mark.parametrize("kind", sorted(HOSTILE_REPO_IDS))
def test_check_repo_id_refuses_each_injection(kind):
    with pytest.raises(ValueError, match=r"(is not a valid Hub repo id|must look like 'owner/name')") as info:
        check_repo_id(HOSTILE_REPO_IDS[kind], option="--repo-id")
    assert str(info.value).startswith("--repo-id ")


@pytest.mark.parametrize("kind", sorted(HOSTILE_REPO_IDS))
def test_build_refuses_a_hostile_repo_id_before_writing_anything(kind, tmp_path):
    source = hostile._folders(tmp_path / "src")
    code, _, err = _cli(["build", "--source", str(source), "--out", str(tmp_path / "out"), "--scenarios", "original",
                         "--no-progress", "--repo-id", HOSTILE_REPO_IDS[kind]])
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("ximagenet12 build: error: --repo-id "), err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["push", "push-model"])
def test_push_commands_refuse_a_hostile_repo_with_one_line(command, tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    code, _, err = _cli([command, str(folder), "--repo", HOSTILE_REPO_IDS["javascript_link"]])
    assert code == 1
    assert err.count("\n") == 1 and "is not a valid Hub repo id" in err and "Traceback" not in err, err


def test_valid_repo_ids_pass():
    for repo_id in ("owner/name", "Owner-1/name.with_dots-and-dashes", "a/b"):
        assert check_repo_id(repo_id) == repo_id


# --------------------------------------------------------------------------- escaping


@pytest.mark.parametrize("text", TRICKY_TEXT)
def test_escaped_text_renders_back_exactly_and_stays_inert(text):
    rows = _cells(f"| a | b |\n|---|---|\n| {card_text(text)} | {card_code(text)} |\n")
    assert len(rows) == 2  # the header and one row: nothing split the cells or ended the table
    (as_text, text_tokens), (as_code, code_tokens) = rows[1]
    assert as_text == text and set(text_tokens) <= {"text"}  # no link, image, html, emphasis or code
    assert as_code == text and code_tokens == ["code_inline"]
    assert card_plain(card_text(text)) == text


@pytest.mark.parametrize("text", ["two\nlines", "tab\there", "nul\x00", "line\u2028separator"])
def test_text_with_line_breaks_or_controls_is_refused(text):
    with pytest.raises(ValueError, match="line break or control character"):
        card_text(text)
    with pytest.raises(ValueError, match="line break or control character"):
        card_code(text)


# --------------------------------------------------------------------------- class names


@pytest.mark.parametrize("bad", UNROUNDTRIPPABLE_CLASSES)
def test_a_class_folder_that_cannot_round_trip_is_refused_naming_it(bad, tmp_path):
    source = class_folders(tmp_path / "src", ["cat", bad])
    code, _, err = _cli(["build", "--source", str(source), "--out", str(tmp_path / "out"), "--scenarios", "original",
                         "--no-progress"])
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("ximagenet12 build: error: "), err
    assert repr(bad) in err and "cannot round-trip" in err
    assert not (tmp_path / "out").exists()  # nothing written, nothing silently lost


def test_class_names_that_need_escaping_round_trip_through_folder_classlabel_parquet_and_card(tmp_path):
    import datasets
    import yaml
    from huggingface_hub import DatasetCard

    names = ESCAPED_CLASSES
    source = class_folders(tmp_path / "src", names)
    out = tmp_path / "out"
    code, _, err = _cli(["build", "--source", str(source), "--out", str(out), "--scenarios", "original",
                         "--no-progress", "--repo-id", "owner/name"])
    assert code == 0, err
    ds = datasets.load_dataset(str(out), "original", split="train")
    assert ds.features["label"].names == names  # ClassLabel and the parquet's feature metadata
    assert sorted(set(ds["class_key"])) == names
    card = DatasetCard.load(out / "README.md")
    front = (out / "README.md").read_text(encoding="utf-8").split("---\n")[1]
    assert card.data.to_dict() == yaml.safe_load(front)  # the YAML block loads back whole
    section = card.text.split("## Classes", 1)[1] if "## Classes" in card.text else card.text
    rows = [r for r in _cells(section) if len(r) == 3 and r[0][0].isdigit()]
    assert [(r[1][0], r[2][0]) for r in rows[: len(names)]] == [(n, n) for n in names]
    assert all(set(r[2][1]) <= {"text"} for r in rows)


# --------------------------------------------------------------------------- the leaderboard Space card


def test_the_leaderboard_title_renders_back_exactly_and_a_line_break_is_refused(tmp_path):
    import yaml

    from ximagenet12.leaderboard.results import Results
    from ximagenet12.leaderboard.site import _card, write_site

    title = "<b>Board</b> [x](javascript:alert(1)) *v2*"
    card = _card(title)
    front, body = card.split("---\n")[1], card.split("---\n", 2)[2]
    assert yaml.safe_load(front)["title"] == title
    heading = next(t for t in _markdown().parse(body) if t.type == "inline")
    assert "".join(c.content for c in heading.children) == title and {c.type for c in heading.children} == {"text"}
    with pytest.raises(ValueError, match="line break or control character"):
        write_site(Results(), tmp_path / "site", title="Board\n---\nsdk: static")
    assert not (tmp_path / "site").exists()


def test_evaluate_refuses_a_hostile_push_results_repo_before_running(tmp_path):
    code, _, err = _cli(["evaluate", "--model", "efficientnet-lite0", "--data", str(tmp_path / "nowhere"),
                         "--out", str(tmp_path / "report"), "--push-results", HOSTILE_REPO_IDS["html"]])
    assert code == 1
    assert err.count("\n") == 1 and "--push-results 'owner/<img src=x onerror=alert(1)>' is not a valid Hub repo id" in err
    assert not (tmp_path / "report").exists()
