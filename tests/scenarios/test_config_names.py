"""One naming rule: what a user types on the command line is the config name load_dataset takes."""

from __future__ import annotations

import pytest

from ximagenet12.scenarios.registry import SCENARIOS, resolve


def test_the_paper_level_is_the_bare_name_and_other_levels_carry_their_number():
    assert [v.config_name for v in resolve("blur_background@3")] == ["blur_background"]
    assert [v.config_name for v in resolve("blur_background@5")] == ["blur_background_level5"]
    assert [v.config_name for v in resolve("blur_background_level5")] == ["blur_background_level5"]


def test_every_config_name_resolves_to_itself():
    for scenario in SCENARIOS.values():
        for level in [None, *sorted(scenario.levels)]:
            name = scenario.variant(level).config_name
            assert [v.config_name for v in resolve(name)] == [name]


def test_a_level_suffix_naming_the_paper_level_is_refused_with_the_real_name():
    with pytest.raises(ValueError, match=r"'blur_background_level3' is not a config name: level 3 is the paper's "
                                         r"level of 'blur_background', whose config is 'blur_background'"):
        resolve("blur_background_level3")
