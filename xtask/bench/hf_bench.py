"""HF transformers + PyTorch (eager) side of `cargo xtask bench compare`.

Same workloads as crates/duet-rl/examples/bench_compare.rs, on the checkpoint
that example saved (duet writes transformers' Janus layout):
  (a) image-token generation, batch B, CFG 5 (2B rows), KV cache, sampling
      at temperature 1: JanusForConditionalGeneration.generate(generation_mode="image");
  (b) forward + backward of L = -mean(A * exp(logp - logp.detach())) over
      teacher-forced image tokens (conditional branch);
  (c) peak RSS (ru_maxrss) and f32 GEMM 1024^3 GFLOP/s.
Prints one JSON line. Usage: hf_bench.py CHECKPOINT_DIR [BATCH] [REPEATS] [THREADS]
"""

import json
import resource
import statistics
import sys
import time

import torch
import transformers
from transformers import JanusForConditionalGeneration


def timed(repeats, f):
    f()  # warm-up
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def load(ckpt, threads, batch):
    """The checkpoint in eval mode on `threads` threads, and `batch` prompts
    ending in BOI (the same token ids bench_compare.rs uses)."""
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    # The ShapeWorld preset's VQ has no residual blocks, a shape transformers'
    # Janus VQ cannot express (its channel widths only change inside residual
    # blocks), so its VQ weights are re-initialised here: neither workload
    # runs the VQ; every decoder and head weight loads exactly.
    model = JanusForConditionalGeneration.from_pretrained(
        ckpt, dtype=torch.float32, ignore_mismatched_sizes=True
    )
    model.eval()
    gen = model.generation_config
    boi = gen.generation_kwargs["boi_token_id"]
    prompts = torch.tensor(
        [[gen.bos_token_id, 20 + i % 8, 40, 41, boi] for i in range(batch)], dtype=torch.long
    )
    return model, prompts


def generate_images(model, prompts):
    """Image tokens for `prompts` with CFG 5, temperature 1, KV cache."""
    with torch.no_grad():
        return model.generate(
            input_ids=prompts,
            attention_mask=torch.ones_like(prompts),
            generation_mode="image",
            do_sample=True,
            temperature=1.0,
            guidance_scale=5.0,
        )


def main():
    ckpt = sys.argv[1]
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    model, prompts = load(ckpt, threads, batch)
    cfg = model.config
    n_tok = cfg.vision_config.num_image_tokens

    def generate():
        return generate_images(model, prompts)

    out = generate()
    assert out.shape == (batch, n_tok), out.shape
    gen_s = timed(repeats, generate)

    # (b): prompt embeddings + generation-aligned embeddings of the previous
    # codes, decoder, generation head, log-softmax gathered at the codes.
    n_codes = cfg.vq_config.num_embeddings
    codes = torch.tensor(
        [[(r * 31 + k * 17) % n_codes for k in range(n_tok)] for r in range(batch)], dtype=torch.long
    )
    adv = torch.tensor([1.0 if r % 2 == 0 else -1.0 for r in range(batch)]).reshape(batch, 1)
    model.train()
    inner = model.model

    def grpo():
        model.zero_grad(set_to_none=True)
        text = inner.language_model.get_input_embeddings()(prompts)
        img = inner.generation_aligner(inner.generation_embeddings(codes[:, :-1]))
        h = inner.language_model(inputs_embeds=torch.cat([text, img], 1)).last_hidden_state
        logits = inner.generation_head(h[:, prompts.shape[1] - 1 :])
        logp = torch.log_softmax(logits, -1).gather(-1, codes.unsqueeze(-1)).squeeze(-1)
        loss = -(torch.exp(logp - logp.detach()) * adv).mean()
        loss.backward()

    grpo_s = timed(repeats, grpo)

    x = torch.rand(1024, 1024)
    gemm_s = timed(repeats, lambda: x @ x)
    active = sum(
        p.numel()
        for m in (inner.language_model.layers, inner.generation_head, inner.generation_aligner)
        for p in m.parameters()
    )
    print(
        json.dumps(
            {
                "framework": f"HF transformers {transformers.__version__} + PyTorch {torch.__version__} (eager)",
                "threads": threads,
                "batch": batch,
                "image_tokens": n_tok,
                "gen_s": gen_s,
                "gen_tokens_per_s": batch * n_tok / gen_s,
                "gen_gflops": 2.0 * active * 2 * batch * n_tok / gen_s / 1e9,
                "grpo_fwd_bwd_s": grpo_s,
                "gemm_gflops": 2.0 * 1024**3 / gemm_s / 1e9,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            }
        )
    )


if __name__ == "__main__":
    main()
