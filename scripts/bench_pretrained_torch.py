"""PyTorch (CPU) throughput of the three pretrained-encoder workloads, the baseline for crates/pretrained.

Prints ONE JSON object on stdout (progress goes to stderr):
  minilm_sentences_per_s     all-MiniLM-L6-v2 forward (BertModel + mean pooling + L2 normalise),
                             batch 64 x 35 tokens (fixed random ids, full attention mask), no grad
  clip_vit_b32_images_per_s  randomly initialised CLIPVisionModelWithProjection at ViT-B/32 sizes,
                             batch 16 x 3 x 224 x 224 random input, no grad
  pair_head_pairs_per_s      one training step (forward + backward + Adam lr 1e-3) of a pairwise head
                             Linear(768,256) -> ReLU -> Linear(256,1) on cached features, loss
                             mean(-logsigmoid(r_better - r_worse)), batch 256 pairs
Each figure is the median over timed repeats after warm-up; the repeats are reported too.

    scripts/bench-pretrained-torch [--quick]     # creates the venv on first use
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch
import transformers
from transformers import BertModel, CLIPVisionConfig, CLIPVisionModelWithProjection

REPO = Path(__file__).resolve().parents[1]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def timed(name: str, fn, items: int, warmup: int, repeats: int, inner: int = 1) -> dict:
    """Runs fn `warmup` times, then `repeats` timed samples of `inner` calls; items per second."""
    for _ in range(warmup):
        fn()
    rates = []
    for i in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        dt = time.perf_counter() - t0
        rates.append(items * inner / dt)
        log(f"  {name} repeat {i + 1}/{repeats}: {rates[-1]:.1f}/s")
    return {"median": statistics.median(rates), "repeats": rates}


def bench_minilm(shared: Path, warmup: int, repeats: int) -> dict:
    model_dir = shared / "models" / "all-MiniLM-L6-v2"
    model = BertModel.from_pretrained(str(model_dir), dtype=torch.float32, add_pooling_layer=False).eval()
    g = torch.Generator().manual_seed(0)
    batch, seq = 64, 35
    ids = torch.randint(1000, model.config.vocab_size, (batch, seq), generator=g)
    ids[:, 0], ids[:, -1] = 101, 102
    mask = torch.ones_like(ids)
    types = torch.zeros_like(ids)

    def step():
        with torch.no_grad():
            h = model(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
            m = mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    log(f"minilm: batch {batch} x {seq} tokens")
    return {**timed("minilm", step, batch, warmup, repeats), "batch": batch, "seq_len": seq}


def bench_clip_vision(warmup: int, repeats: int) -> dict:
    torch.manual_seed(0)
    config = CLIPVisionConfig(
        hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
        patch_size=32, image_size=224, projection_dim=512, hidden_act="quick_gelu",
    )
    model = CLIPVisionModelWithProjection(config).float().eval()
    batch = 16
    pixels = torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(0))

    def step():
        with torch.no_grad():
            return model(pixel_values=pixels).image_embeds

    log(f"clip vit-b/32: batch {batch}")
    return {**timed("clip_vit_b32", step, batch, warmup, repeats), "batch": batch}


def bench_pair_head(warmup: int, repeats: int) -> dict:
    torch.manual_seed(0)
    head = torch.nn.Sequential(torch.nn.Linear(768, 256), torch.nn.ReLU(), torch.nn.Linear(256, 1))
    opt = torch.optim.Adam(head.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    batch = 256
    better = torch.randn(batch, 768, generator=g)
    worse = torch.randn(batch, 768, generator=g)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = -torch.nn.functional.logsigmoid(head(better) - head(worse)).mean()
        loss.backward()
        opt.step()
        return loss

    log(f"pair head: batch {batch} pairs (20 steps per timed sample)")
    return {**timed("pair_head", step, batch, warmup * 10, repeats, inner=20), "batch": batch}


# The matrix products timed alone, as crates/bench/src/workloads/matmul.rs (MATMUL_SHAPES): the
# feed-forward up-projection of MiniLM at 64 x 35 tokens and of CLIP ViT-B/32 at 16 x 50 tokens.
MATMUL_SHAPES = [("minilm_ffn", 64 * 35, 384, 1536), ("clip_vit_b32_ffn", 16 * 50, 768, 3072)]


def bench_matmul(warmup: int, repeats: int) -> dict:
    g = torch.Generator().manual_seed(0)
    out = {}
    for name, m, k, n in MATMUL_SHAPES:
        a = torch.randn(m, k, generator=g)
        b = torch.randn(k, n, generator=g)

        def step():
            with torch.no_grad():
                return a @ b

        gflop = 2 * m * k * n / 1e9
        log(f"matmul {name}: {m} x {k} x {n} (10 products per timed sample)")
        r = timed(name, step, 1, warmup, repeats, inner=10)
        out[name] = {"median": r["median"] * gflop, "repeats": [x * gflop for x in r["repeats"]],
                     "m": m, "k": k, "n": n}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 warm-up and 2 timed repeats instead of 2 and 5")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="torch intra-op threads (default: all cores; on a busy machine fewer can be faster)")
    args = parser.parse_args()
    warmup, repeats = (1, 2) if args.quick else (2, 5)

    torch.set_num_threads(args.threads)
    load_start = list(os.getloadavg())
    log(f"torch {torch.__version__}, {args.threads} threads, {os.cpu_count()} cores, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    shared = Path(os.environ.get("REWARDLAB_SHARED", REPO.parent / "shared"))

    results = {
        "minilm": bench_minilm(shared, warmup, repeats),
        "clip_vit_b32": bench_clip_vision(warmup, repeats),
        "pair_head": bench_pair_head(warmup, repeats),
        "matmul": bench_matmul(warmup, repeats),
    }
    out = {
        "minilm_sentences_per_s": results["minilm"]["median"],
        "clip_vit_b32_images_per_s": results["clip_vit_b32"]["median"],
        "pair_head_pairs_per_s": results["pair_head"]["median"],
        "matmul_gflops": {name: r["median"] for name, r in results["matmul"].items()},
        "details": results,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": load_start,
        "load_average_at_end": list(os.getloadavg()),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "quick": args.quick,
        "warmup": warmup,
        "repeats": repeats,
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
