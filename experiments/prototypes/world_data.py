"""Loads a rewardlab synthetic world for the PyTorch prototypes: every image as one uint8 array,
the annotations joined with the ground truth, and the split of a trained run (its held-out test
prompts from `heldout_scores.csv`, its training prompts from `rewardlab eval --split train`), so
that the prototypes train and test on exactly the prompts the Rust model did."""
import os

import numpy as np
import pandas as pd
from PIL import Image


def load(world, run, cache):
    """(images [N, 64, 64, 3] uint8, annotations DataFrame with `split`, `lat_align`, `errors`)."""
    os.makedirs(cache, exist_ok=True)
    a = pd.read_parquet(f"{world}/annotations.parquet")
    g = pd.read_csv(f"{world}/ground_truth.csv")
    a = a.merge(
        g[["generation_id", "alignment", "errors"]].rename(columns={"alignment": "lat_align"}),
        on="generation_id",
    )
    a["errors"] = a.errors.fillna("")
    train_scores = f"{run}/eval-train/scores.csv"
    if not os.path.exists(train_scores):
        raise SystemExit(
            f"{train_scores} is missing: run `rewardlab eval --run {run} --dataset {world} "
            "--split train --baseline none --resamples 10` first"
        )
    train = set(pd.read_csv(train_scores).prompt_id)
    test = set(pd.read_csv(f"{run}/heldout_scores.csv").prompt_id)
    a["split"] = np.where(
        a.prompt_id.isin(train), "train", np.where(a.prompt_id.isin(test), "test", "valid")
    )
    npy = os.path.join(cache, "images.npy")
    if os.path.exists(npy):
        images = np.load(npy)
    else:
        images = np.stack([np.asarray(Image.open(f"{world}/{p}").convert("RGB")) for p in a.image])
        np.save(npy, images)
    return images, a


def error_aucs(scores, a):
    """Per alignment error kind, the share of (error-free, with the error) image pairs of the same
    prompt in which the error-free image scores higher (ties half): the table `rewardlab train`
    prints."""
    s = a[["generation_id", "prompt_id", "errors"]].merge(scores, on="generation_id")
    kinds = sorted({k for e in s.errors for k in e.split(";") if k})
    out = {}
    for k in kinds:
        won = n = 0.0
        for _, grp in s.groupby("prompt_id"):
            bad = grp.score[grp.errors.str.contains(k)].values
            clean = grp.score[grp.errors == ""].values
            if len(bad) and len(clean):
                d = clean[:, None] - bad[None, :]
                won += (d > 0).sum() + 0.5 * (d == 0).sum()
                n += d.size
        out[k] = won / n if n else float("nan")
    return out
