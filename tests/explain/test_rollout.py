"""Attention rollout against hand-computed examples and an independent numpy oracle."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ximagenet12.explain.rollout import attention_rollout, rollout_maps


def _one_hot_attention(tokens: int, row_targets: dict[int, int]) -> torch.Tensor:
    """1 x 1 x T x T: token i attends only to row_targets.get(i, i)."""
    a = torch.zeros(1, 1, tokens, tokens)
    for i in range(tokens):
        a[0, 0, i, row_targets.get(i, i)] = 1.0
    return a


def test_class_token_reading_one_patch_gives_a_one_hot_map():
    # tokens: [CLS, p0, p1, p2, p3] on a 2 x 2 grid; CLS reads only p2 (residual keeps half on itself)
    a = _one_hot_attention(5, {0: 3})
    maps = rollout_maps([a], grid=(2, 2))
    np.testing.assert_allclose(maps[0].numpy(), [[0.0, 0.0], [0.5, 0.0]])


def test_two_layers_compose_by_hand():
    # layer rows: CLS -> 0.5 CLS + 0.5 p2 ; p2 -> p2.  Two layers: CLS row = 0.25 CLS + 0.75 p2
    a = _one_hot_attention(5, {0: 3})
    maps = rollout_maps([a, a], grid=(2, 2))
    np.testing.assert_allclose(maps[0].numpy(), [[0.0, 0.0], [0.75, 0.0]])


def _oracle(attentions: list[np.ndarray]) -> np.ndarray:
    """Path-sum oracle in plain numpy: R = prod_l (0.5 * mean_h A_l + 0.5 I), rows renormalised, per sample."""
    batch, _, tokens, _ = attentions[0].shape
    out = np.empty((batch, tokens, tokens))
    for b in range(batch):
        mats = []
        for layer in attentions:
            m = sum(layer[b, h] for h in range(layer.shape[1])) / layer.shape[1]
            m = 0.5 * m + 0.5 * np.eye(tokens)
            mats.append(m / m.sum(axis=1, keepdims=True))
        out[b] = np.linalg.multi_dot(mats[::-1]) if len(mats) > 1 else mats[0]
    return out


def test_rollout_matches_the_numpy_oracle_on_random_softmax_attention():
    gen = torch.Generator().manual_seed(0)
    attentions = [torch.softmax(torch.randn(3, 4, 10, 10, generator=gen), dim=-1) for _ in range(5)]
    got = attention_rollout(attentions).numpy()
    np.testing.assert_allclose(got, _oracle([a.numpy().astype(np.float64) for a in attentions]), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got.sum(axis=-1), 1.0)  # still row-stochastic


def test_extra_tokens_between_cls_and_patches_are_dropped():
    # [CLS, DIST, p0..p3]: the map is read from the last grid_h * grid_w tokens
    a = _one_hot_attention(6, {0: 5})
    np.testing.assert_allclose(rollout_maps([a], grid=(2, 2))[0].numpy(), [[0.0, 0.0], [0.0, 0.5]])


@pytest.mark.parametrize(
    "attentions, grid, match",
    [
        ([], (2, 2), "needs at least one layer"),
        ([torch.ones(1, 5, 5)], (2, 2), "batch x heads x tokens x tokens"),
        ([torch.ones(1, 1, 5, 5), torch.ones(1, 1, 6, 6)], (2, 2), "different sizes"),
        ([torch.ones(1, 1, 5, 5) / 5], (3, 3), "a 3 x 3 patch grid does not fit 5 tokens"),
    ],
)
def test_bad_attention_maps(attentions, grid, match):
    with pytest.raises(ValueError, match=match):
        rollout_maps(attentions, grid=grid)
