"""Can the default image stem see shapes at all? An image-only classifier of the drawn shape,
trained with direct labels, on the images whose prompt names one shape and whose generator drew it
(no wrong-shape or missing-object error): the stem of rewardlab's default model (two stride-2
3x3 convolutions, 16x16 patches) with mean- and max-pooling and a linear layer, optionally with
`BLOCKS` more 3x3 convolutions at 16x16. Held-out accuracy, chance 1/7.

    python shape_probe.py --run RUN [--blocks 2] [--epochs 8]

RUN as for torch_alignment.py (its split). Needs torch, pandas, pillow, pyarrow.
"""
import argparse
import os
import re
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import world_data

torch.set_num_threads(int(os.environ.get("THREADS", "2")))
torch.manual_seed(0)
ap = argparse.ArgumentParser()
ap.add_argument("--world", default=os.path.expanduser("~/.cache/rewardlab/world-1500-0"))
ap.add_argument("--run", required=True)
ap.add_argument("--cache", default="/tmp/rewardlab-prototypes")
ap.add_argument("--blocks", type=int, default=0)
ap.add_argument("--epochs", type=int, default=8)
args = ap.parse_args()
imgs, a = world_data.load(args.world, args.run, args.cache)
SHAPES = ["circle", "square", "triangle", "star", "ring", "cross", "diamond"]
PLURAL = {"crosses": "cross", **{s + "s": s for s in SHAPES}}


def shape_of(prompt):
    named = [PLURAL.get(w, w) for w in re.findall("[a-z]+", prompt) if PLURAL.get(w, w) in SHAPES]
    return SHAPES.index(named[0]) if len(named) == 1 else None


a["y"] = a.prompt.map(shape_of)
sel = a[a.y.notna() & ~a.errors.str.contains("shape|missing")]
X = torch.tensor(imgs).permute(0, 3, 1, 2).float() / 127.5 - 1


class Probe(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 32, 3, 2, 1)
        self.c2 = nn.Conv2d(32, 64, 3, 2, 1)
        self.blocks = nn.Sequential(
            *[nn.Sequential(nn.Conv2d(64, 64, 3, padding=1), nn.ReLU()) for _ in range(args.blocks)]
        )
        self.fc = nn.Linear(128, len(SHAPES))

    def forward(self, x):
        x = self.blocks(self.c2(F.relu(self.c1(x))))
        return self.fc(torch.cat([x.mean((2, 3)), x.amax((2, 3))], 1))


m = Probe()
opt = torch.optim.Adam(m.parameters(), 1e-3)
tr, te = sel[sel.split == "train"], sel[sel.split != "train"]
xtr, ytr = X[tr.index.values], torch.tensor(tr.y.values.astype(int))
xte, yte = X[te.index.values], torch.tensor(te.y.values.astype(int))
print(f"{len(tr)} training and {len(te)} held-out images (validation + test prompts)")
t0 = time.time()
for ep in range(args.epochs):
    order = torch.randperm(len(tr))
    for i in range(0, len(tr), 64):
        b = order[i : i + 64]
        loss = F.cross_entropy(m(xtr[b]), ytr[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc = (m(xte).argmax(1) == yte).float().mean().item()
        acc_tr = (m(xtr[:1000]).argmax(1) == ytr[:1000]).float().mean().item()
    print(f"epoch {ep + 1}: train {acc_tr:.3f} held-out {acc:.3f} ({time.time() - t0:.0f} s)", flush=True)
