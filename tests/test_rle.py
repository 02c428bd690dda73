"""The checked RLE decoder (compat shim 6): the exact inverse of davisinteractive's C encoder, and a
one-line refusal of anything that encoder cannot produce."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ivosw_bench.compat as compat
from ivosw_bench import rle

compat.apply()


def _c_decode_counts(s: str) -> list[int]:
    """COCO's rleFrString, line by line (the reference for valid strings)."""
    cnts, p = [], 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << 5 * k
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << 5 * k
        if len(cnts) > 2:
            x += cnts[-2]
        cnts.append(x)
    return cnts


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3), st.integers(1, 30), st.integers(1, 30), st.integers(1, 4), st.integers(0, 2**31 - 1),
       st.sampled_from(["dense", "sparse", "blocks"]))
def test_decode_inverts_davisinteractive_encoder(b, h, w, k, seed, kind):
    from davisinteractive.third_party import mask_api

    rng = np.random.default_rng(seed)
    if kind == "dense":
        masks = rng.integers(0, k + 1, (b, h, w))
    elif kind == "sparse":
        masks = (rng.random((b, h, w)) < 0.03) * rng.integers(1, k + 1, (b, h, w))
    else:
        masks = np.zeros((b, h, w), int)
        masks[:, : h // 2, w // 3:] = k
    enc = json.loads(json.dumps(mask_api.encode_batch_masks(masks, nb_objects=k)))
    for frame in enc["frames"]:
        for obj in frame:
            assert rle.decode_counts(obj["counts"], h * w).tolist() == _c_decode_counts(obj["counts"])
    out = mask_api.decode_batch_masks(enc)  # the shim
    assert out.dtype == np.uint8 and (out == masks).all()
    assert (rle.decode_batch_masks(enc, (b, h, w), k) == masks).all()
    single = mask_api.encode_mask(masks[0], nb_objects=k)
    assert (mask_api.decode_mask(single) == masks[0]).all()


def test_large_counts_and_full_frames():
    from davisinteractive.third_party import mask_api

    masks = np.zeros((2, 480, 854), np.uint8)
    masks[0, 100:300, 200:700] = 1
    masks[1] = 2
    enc = mask_api.encode_batch_masks(masks, nb_objects=2)
    assert (rle.decode_batch_masks(enc, (2, 480, 854), 2) == masks).all()


@pytest.mark.parametrize("counts, needle", [
    ("", "empty"), ("~", "alphabet"), ("0 ", "alphabet"), ("0`", "truncated"), ("é", "ASCII"),
    ("oooooooo0", "too large"), ("02", "pixels"), ("0", "pixels"), (123, "ASCII"),
])
def test_malformed_counts_are_refused(counts, needle):
    with pytest.raises(rle.RLEError, match=needle):
        rle.decode_counts(counts, 4)


def test_negative_runs_and_bad_structure_are_refused():
    with pytest.raises(rle.RLEError, match="negative"):
        rle.decode_counts("44O", 7)  # 4, 4, then a run of -1
    enc = {"size": [1, 2, 2], "frames": [[{"object_id": 1, "counts": "04"}]]}
    assert rle.decode_batch_masks(enc).tolist() == [[[1, 1], [1, 1]]]
    for bad, needle in [({"size": [1, 2, 2]}, "pred_masks"), ({"size": [1, 2], "frames": []}, "size"),
                        ({"size": [1, 2, 2], "frames": [[{"object_id": True, "counts": "04"}]]}, "object_id"),
                        ({"size": [1, 2, 2], "frames": [[{"object_id": 1}]]}, "each object"),
                        ({"size": [2, 2, 2], "frames": [[]]}, "2 frames")]:
        with pytest.raises(rle.RLEError, match=needle):
            rle.decode_batch_masks(bad)
    with pytest.raises(rle.RLEError, match="does not match"):
        rle.decode_batch_masks(enc, (1, 2, 3))
    with pytest.raises(rle.RLEError, match="not 1..2"):
        rle.decode_batch_masks(enc, (1, 2, 2), 2)


def test_shim_installed_without_touching_site_packages():
    from davisinteractive.third_party import mask_api
    from davisinteractive.third_party.mask_api import mask

    assert mask_api.decode_batch_masks is rle.decode_batch_masks and mask.decode_mask is rle.decode_mask
