"""Prompts per class: the shipped file covers the 12 reference classes, users override it."""

from __future__ import annotations

import json

import pytest

from ximagenet12.core.constants import REFERENCE_CLASSES
from ximagenet12.scenarios.generation.prompts import PromptBook, load_prompts


def test_every_reference_class_has_its_own_paper_style_prompt():
    book = load_prompts()
    prompts = {wnid: book.prompt_for(wnid) for wnid, _, _ in REFERENCE_CLASSES}
    assert len(set(prompts.values())) == len(REFERENCE_CLASSES)
    for wnid, name, _ in REFERENCE_CLASSES:
        prompt = prompts[wnid]
        assert prompt.startswith(f"A high-resolution photograph of a {name} in ")
        assert "like a National Geographic photo, realistic, keep the foreground unchanged" in prompt
        assert book.classes[wnid].environment and book.classes[wnid].environment in prompt
    assert "cartoon" in book.negative_prompt


def test_user_classes_get_the_generic_template_with_their_name():
    book = load_prompts()
    assert book.prompt_for("bottle_cap", "bottle cap") == (
        "A high-resolution photograph of a bottle cap in a natural, realistic setting where one would "
        "expect to see it, like a National Geographic photo, realistic, keep the foreground unchanged"
    )
    assert "of a screw head in" in book.prompt_for("screw_head")  # no name: the key, underscores as spaces


def test_reference_names_come_from_the_book_even_when_the_source_names_them_differently():
    assert "of a red fox in" in load_prompts().prompt_for("n02119022", "Vulpes vulpes")


def test_a_user_file_overrides_entries_and_keeps_the_others(tmp_path):
    path = tmp_path / "prompts.json"
    path.write_text(
        json.dumps(
            {
                "negative_prompt": "people",
                "classes": {
                    "n02119022": {"environment": "a desert at dusk"},
                    "n02992211": "A cello on a beach at sunset",
                    "scratch": {"name": "scratched panel", "environment": "a factory floor"},
                },
            }
        )
    )
    book = load_prompts(path)
    assert book.negative_prompt == "people"
    assert book.prompt_for("n02119022").startswith("A high-resolution photograph of a red fox in a desert at dusk")
    assert book.prompt_for("n02992211") == "A cello on a beach at sunset"
    assert "of a scratched panel in a factory floor" in book.prompt_for("scratch")
    assert book.prompt_for("n01985128") == load_prompts().prompt_for("n01985128")
    assert str(path) in book.origin


def test_a_user_template_replaces_the_generic_one(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"template": "studio photo of a {name}"}))
    assert load_prompts(path).prompt_for("widget") == "studio photo of a widget"


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object, got list"),
        ('{"prompts": {}}', r"unknown keys \['prompts'\]"),
        ('{"template": "photo of {name} in {place}"}', "may only use the placeholders"),
        ('{"template": 3}', "'template' must be a string"),
        ('{"classes": []}', "'classes' must map class keys"),
        ('{"classes": {"a": {"colour": "red"}}}', "class 'a' must be a prompt string or an object"),
        ('{"classes": {"a": {}}}', "class 'a' gives no name, environment or prompt"),
    ],
)
def test_bad_prompt_files_are_refused_with_the_problem_named(tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        load_prompts(path)


def test_a_missing_prompt_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="prompt file .*nope.json' not found"):
        load_prompts(tmp_path / "nope.json")


def test_the_shipped_file_is_package_data():
    from importlib import resources

    assert resources.files("ximagenet12").joinpath("data/prompts.json").is_file()
    assert isinstance(PromptBook.default(), PromptBook)
