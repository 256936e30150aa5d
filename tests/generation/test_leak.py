"""The background leak check of ``ai_background``: the object is blacked out, the rest classified;
rows whose background alone is the object's class are flagged in their provenance and
counted in the card. Built with the real builder and the tiny SDXL pipeline; the checking
classifier is a tiny ViT whose answer the test fixes (it says "red fox" to any image)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ximagenet12.evaluation.leak import black_out_object, check_background_leak

FOX, CELLO = "n02119022", "n02992211"


@pytest.fixture
def release(tmp_path, photo, box_mask):
    root = tmp_path / "release"
    for wnid in (FOX, CELLO):
        (root / "image" / wnid).mkdir(parents=True)
        (root / "masks" / wnid).mkdir(parents=True)
        for n in range(2):
            Image.fromarray(photo(seed=n)).save(root / "image" / wnid / f"{wnid}_{n}.JPEG", quality=95)
            Image.fromarray(box_mask().astype(np.uint8) * 255).save(root / "masks" / wnid / f"{wnid}_{n}.png")
    return root


@pytest.fixture
def says_fox(tmp_path):
    """A classifier over (red fox, cello) that answers "red fox" with p ≈ 1 whatever it sees."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=37, num_labels=2, id2label={0: "red fox", 1: "cello"},
                       label2id={"red fox": 0, "cello": 1})
    model = ViTForImageClassification(config)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([10.0, 0.0]))
    out = tmp_path / "says-fox"
    model.save_pretrained(out)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(out)
    return out


def test_black_out_object_zeroes_the_object_and_keeps_the_background(photo, box_mask):
    image, mask = photo(), box_mask()
    out = black_out_object(image, mask)
    assert (out[mask] == 0).all() and np.array_equal(out[~mask], image[~mask])
    assert not (image[mask] == 0).all()  # the input is not changed
    with pytest.raises(ValueError, match="mask 10×10 does not match image 64×48"):
        black_out_object(image, np.zeros((10, 10), bool))


def test_build_flags_rows_whose_background_is_the_class_and_counts_them_in_the_card(
        release, tiny_model, says_fox, tmp_path, capsys):
    import datasets

    from ximagenet12.cli import main

    out = tmp_path / "out"
    rc = main(["build", "--source", str(release), "--out", str(out), "--scenarios", "original,ai_background",
               "--ai-model", tiny_model, "--device", "cpu", "--ai-steps", "2", "--ai-batch-size", "1",
               "--leak-check", str(says_fox), "--leak-threshold", "0.5", "--no-progress"])
    assert rc == 0
    assert "background leak check: ai_background: 2 of 4 row(s) flagged" in capsys.readouterr().out
    rows = datasets.load_dataset(str(out), "ai_background", split="train", cache_dir=str(tmp_path / "hf"))
    assert len(rows) == 4
    for row in rows:
        provenance = json.loads(row["provenance"])
        assert provenance["background_leak"] is (row["class_key"] == FOX)
        assert (provenance["background_leak_score"] > 0.99) is (row["class_key"] == FOX)
        assert provenance["background_leak_classifier"] == str(says_fox)
        assert "prompt" in provenance  # the generation's own provenance is kept
    card = (out / "README.md").read_text()
    assert "**2 of 4 row(s)** have a background classified as the object's class" in card
    assert "- `ai_background`: 2 of 4 flagged" in card

    # checking again (another classifier, threshold) replaces the section and the flags
    again = check_background_leak(out, classifier=str(says_fox), threshold=1.0, device="cpu")
    assert again.flagged == {"ai_background": 0} and again.checked == {"ai_background": 4}
    card = (out / "README.md").read_text()
    assert card.count("## Background leak check") == 1 and "**0 of 4 row(s)**" in card
    original = datasets.load_dataset(str(out), "original", split="train", cache_dir=str(tmp_path / "hf2"))
    assert "background_leak" not in original[0]["provenance"]


def test_bad_leak_options_are_one_line(release, tmp_path, capsys, says_fox):
    from ximagenet12.cli import main

    capsys.readouterr()  # the fixture's model-saving progress
    rc = main(["build", "--source", str(release), "--out", str(tmp_path / "out"), "--scenarios", "ai_background",
               "--leak-threshold", "1.5", "--no-progress"])
    assert rc == 1
    err = capsys.readouterr().err.strip()
    assert err == "ximagenet12 build: error: --leak-threshold must be in (0, 1], got 1.5"
    assert not (tmp_path / "out").exists()
    plain = tmp_path / "plain"
    (plain / "data" / "original").mkdir(parents=True)
    with pytest.raises(ValueError, match="has no ai_background config to check"):
        check_background_leak(plain, classifier=str(says_fox))
