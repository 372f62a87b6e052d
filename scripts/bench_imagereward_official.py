"""The official ImageReward code (THUDM, PyPI `image-reward` 1.5) on a REAL-SIZE model with random
weights: the baseline of `rewardlab bench imagereward`. Run it through scripts/bench-imagereward-official,
which creates the venv and sets the working folder.

Two steps, each printing ONE JSON object on stdout (progress goes to stderr):

  --make-checkpoint   builds `ImageReward.ImageReward.ImageReward(med_config, device='cpu')` (BLIP ViT-L/16
                      + BERT-base MED + head, 446,665,953 parameters) with seeded random weights and saves
                      `model.state_dict()` as DIR/ImageReward.pt (about 1.79 GB, the official checkpoint's
                      format and keys), with med_config.json (BLIP's BERT-base config, as THUDM ships it),
                      vocab.txt and a local `bert-base-uncased/` tokenizer folder beside it.
  (default)           loads DIR/ImageReward.pt with the official loader (`ImageReward.load(path,
                      device='cpu', med_config=...)`) and times `model.score(prompt, images)` on the given
                      images: warm-up runs, then timed repeats; the figure is the median images/s. Also
                      prints the rewards, so that another implementation can check it computes the same.

The official `score(prompt, [images])` goes through `inference_rank`, which encodes one image at a time
(batch 1) and runs the head once on the stacked features; it is called under `torch.no_grad()`, as the
official README does, with the images already decoded (as the Rust side scores decoded images).

    scripts/bench-imagereward-official --make-checkpoint [--dir DIR] [--seed 0]
    scripts/bench-imagereward-official --prompt P --images a.png b.png ... [--warmup 1 --repeats 3]
"""

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path

# The official tokenizer is `BertTokenizer.from_pretrained('bert-base-uncased')`: nothing may be
# downloaded, so the relative name must resolve to the local folder that --make-checkpoint writes
# (the shell wrapper runs this script from DIR).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# BLIP's med_config.json as THUDM/ImageReward ships it (BERT-base with cross-attention and the two
# added tokens). `encoder_width` 768 is overwritten by the ViT-L width 1024 in BLIP_Pretrain.__init__.
MED_CONFIG = {
    "architectures": ["BertModel"],
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 768,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": 512,
    "model_type": "bert",
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "pad_token_id": 0,
    "type_vocab_size": 2,
    "vocab_size": 30524,
    "encoder_width": 768,
    "add_cross_attention": True,
}

# What BertTokenizer needs besides vocab.txt to behave as bert-base-uncased's does.
TOKENIZER_CONFIG = {"do_lower_case": True, "model_max_length": 512, "tokenizer_class": "BertTokenizer"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def versions() -> dict:
    return {
        "python": platform.python_version(),
        **{p: version(p) for p in ["image-reward", "torch", "torchvision", "transformers", "timm", "fairscale", "pillow"]},
    }


def write_tokenizer_folder(dir: Path, vocab: Path) -> None:
    """vocab.txt beside the checkpoint (the Rust loader reads it there) and the `bert-base-uncased/`
    folder that the official `init_tokenizer` resolves relative to the working folder."""
    shutil.copyfile(vocab, dir / "vocab.txt")
    local = dir / "bert-base-uncased"
    local.mkdir(exist_ok=True)
    shutil.copyfile(vocab, local / "vocab.txt")
    (local / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG, indent=1) + "\n")


def make_checkpoint(dir: Path, vocab: Path, seed: int) -> dict:
    import torch
    from ImageReward.ImageReward import ImageReward

    dir.mkdir(parents=True, exist_ok=True)
    write_tokenizer_folder(dir, vocab)
    med_config = dir / "med_config.json"
    med_config.write_text(json.dumps(MED_CONFIG, indent=2) + "\n")
    os.chdir(dir)
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    log(f"-- building the real-size ImageReward with random weights (seed {seed})")
    model = ImageReward(med_config=str(med_config), device="cpu").eval()
    # The official head init (std 1/769 for every layer of an affine map) makes every reward
    # -mean/std = -0.1618 to within 1e-9 whatever the image, so comparing rewards would prove nothing.
    # Redrawn at std 1/sqrt(fan_in), the head keeps the features' scale and rewards differ by image.
    with torch.no_grad():
        for layer in model.mlp.layers:
            if isinstance(layer, torch.nn.Linear):
                torch.nn.init.normal_(layer.weight, mean=0.0, std=layer.in_features ** -0.5)
                torch.nn.init.normal_(layer.bias, mean=0.0, std=0.1)
    state = model.state_dict()
    parameters = sum(t.numel() for k, t in state.items() if k != "blip.text_encoder.embeddings.position_ids")
    # Written under a temporary name and renamed, so that an interrupted save leaves no truncated file.
    target = dir / "ImageReward.pt"
    partial = dir / "ImageReward.pt.partial"
    torch.save(state, partial)
    partial.replace(target)
    return {
        "checkpoint": str(target),
        "bytes": target.stat().st_size,
        "parameters": parameters,
        "keys": len(state),
        "seed": seed,
        "seconds": time.perf_counter() - t0,
        "versions": versions(),
    }


def bench(dir: Path, vocab: Path, prompt: str, images: list, warmup: int, repeats: int, threads: int,
          device: str = "cpu") -> dict:
    import tempfile

    import torch
    from PIL import Image

    # The tokenizer folder that --make-checkpoint writes; for another checkpoint (the real one, say),
    # a temporary one made from --vocab.
    workdir = dir
    scratch = None
    if not (dir / "bert-base-uncased" / "vocab.txt").is_file():
        if not vocab.is_file():
            raise SystemExit(f"{dir}/bert-base-uncased/ is absent and so is --vocab {vocab}")
        scratch = tempfile.TemporaryDirectory(prefix="imagereward-tokenizer-")
        workdir = Path(scratch.name)
        local = workdir / "bert-base-uncased"
        local.mkdir()
        shutil.copyfile(vocab, local / "vocab.txt")
        (local / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG) + "\n")

    # `import ImageReward` prints nothing, but `ImageReward.load` prints to stdout: keep stdout for the JSON.
    with contextlib.redirect_stdout(sys.stderr):
        import ImageReward as RM

        torch.set_num_threads(threads)
        os.chdir(workdir)
        t0 = time.perf_counter()
        model = RM.load(str(dir / "ImageReward.pt"), device=device, med_config=str(dir / "med_config.json"))
        load_s = time.perf_counter() - t0
    # `RM.load` loads with strict=False: check here that every tensor found its place.
    state_keys = set(torch.load(dir / "ImageReward.pt", map_location="meta", mmap=True, weights_only=True).keys())
    model_keys = set(model.state_dict().keys())
    if state_keys != model_keys:
        raise SystemExit(f"checkpoint and model keys differ: {sorted(state_keys ^ model_keys)[:10]}")

    decoded = []
    for path in images:
        with Image.open(path) as im:
            im.load()
            decoded.append(im.copy())

    def run():
        with torch.no_grad():
            return model.score(prompt, decoded)

    for i in range(warmup):
        t0 = time.perf_counter()
        rewards = run()
        log(f"  official warm-up {i + 1}/{warmup}: {time.perf_counter() - t0:.2f} s")
    rates, seconds, cpu = [], [], []
    for i in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        rewards = run()
        dt = time.perf_counter() - t0
        cpu.append(time.process_time() - c0)
        seconds.append(dt)
        rates.append(len(decoded) / dt)
        log(f"  official repeat {i + 1}/{repeats}: {dt:.2f} s, {rates[-1]:.3f} images/s")
    if scratch is not None:
        scratch.cleanup()
    if not isinstance(rewards, list):
        rewards = [rewards]
    return {
        "images_per_s": statistics.median(rates),
        "repeats_images_per_s": rates,
        "repeats_s": seconds,
        # CPU seconds of the process (all threads, user and system) per timed run.
        "repeats_cpu_s": cpu,
        "images": len(decoded),
        "batch": 1,
        "warmup": warmup,
        "threads": torch.get_num_threads(),
        "load_s": load_s,
        "rewards": [float(r) for r in rewards],
        "load_average": os.getloadavg()[0],
        "device": torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else "cpu",
        "versions": versions(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cache = Path(os.environ.get("REWARDLAB_CACHE") or Path.home() / ".cache" / "rewardlab")
    shared = Path(os.environ.get("REWARDLAB_SHARED") or Path(__file__).resolve().parents[1].parent / "shared")
    ap.add_argument("--dir", type=Path, default=cache / "imagereward-random",
                    help="folder of ImageReward.pt and med_config.json (default: $REWARDLAB_CACHE/imagereward-random)")
    ap.add_argument("--make-checkpoint", action="store_true", help="write the random checkpoint and exit")
    ap.add_argument("--vocab", type=Path, default=shared / "models" / "all-MiniLM-L6-v2" / "vocab.txt",
                    help="bert-base-uncased's vocab.txt (byte-identical to all-MiniLM-L6-v2's), for --make-checkpoint")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prompt", default="a painting of an ocean with clouds and birds, day time, low depth field effect")
    ap.add_argument("--images", type=Path, nargs="*", default=[])
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads (default: all cores)")
    ap.add_argument("--device", default="cpu",
                    help="torch device of the official side: cpu (default) or cuda[:N] (scripts/device-check)")
    args = ap.parse_args()
    dir = args.dir.resolve()
    if args.make_checkpoint:
        if not args.vocab.is_file():
            raise SystemExit(f"{args.vocab}: no such file; --make-checkpoint needs bert-base-uncased's vocab.txt")
        result = make_checkpoint(dir, args.vocab.resolve(), args.seed)
    else:
        if not (dir / "ImageReward.pt").is_file():
            raise SystemExit(f"{dir / 'ImageReward.pt'} is absent: run with --make-checkpoint first")
        if not args.images:
            raise SystemExit("no --images to score")
        if args.repeats < 1:
            raise SystemExit("--repeats must be at least 1")
        result = bench(dir, args.vocab.resolve(), args.prompt, [p.resolve() for p in args.images], args.warmup, args.repeats, args.threads, args.device)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
