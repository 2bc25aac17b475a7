"""One image-token decode step in HF transformers + PyTorch (eager) with a
given number of positions already in the KV cache: the same shapes as duet's
criterion group `decode_step_at_cache_len`
(crates/duet-model/benches/sampling.rs):

- `shapeworld/rows8`: the `shapeworld` preset's decoder (4 layers, 128 wide,
  4 heads over 2 KV heads, MLP 344) and its image head (512 codes), 8 rows
  (batch 4 with CFG);
- `janus1b_width_{L}layers/rows{2,32}`: Janus-Pro-1B's decoder width (2048,
  16 heads of 128, MLP 5632) with L layers and its image head (16384
  codes), batch 1 and 16 with CFG.

A step is transformers' `LlamaModel` (the decoder Janus uses) on one new
embedding per row with a `DynamicCache` holding `len` random positions,
then the generation head (Linear, GELU, Linear); the cache is cropped back
to `len` after every step, as the criterion bench truncates duet's. Random
weights (speed does not depend on them), f32, `THREADS` intra-op threads.
Prints one JSON line per case and length.

Usage: hf_decode_step.py [REPEATS] [THREADS] [WIDE_LAYERS]
"""

import json
import statistics
import sys
import time

import torch
from transformers import DynamicCache, LlamaConfig, LlamaModel


def decoder(hidden, inter, layers, heads, kv):
    cfg = LlamaConfig(
        vocab_size=16,
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        head_dim=hidden // heads,
        max_position_embeddings=1024,
        rms_norm_eps=1e-6,
        attn_implementation="eager",
    )
    return LlamaModel(cfg).eval(), cfg


def head(hidden, codes):
    return torch.nn.Sequential(
        torch.nn.Linear(hidden, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, codes)
    ).eval()


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    wide_layers = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    cases = [
        ("shapeworld/rows8", (128, 344, 4, 4, 2), 512, 8),
        (f"janus1b_width_{wide_layers}layers/rows2", (2048, 5632, wide_layers, 16, 16), 16384, 2),
        (f"janus1b_width_{wide_layers}layers/rows32", (2048, 5632, wide_layers, 16, 16), 16384, 32),
    ]
    for name, dims, codes, rows in cases:
        lm, cfg = decoder(*dims)
        gen_head = head(dims[0], codes)
        hidden, layers, kv = dims[0], dims[2], dims[4]
        d = hidden // dims[3]
        x = torch.rand(rows, 1, hidden)
        for length in (64, 256, 576):
            cache = DynamicCache(config=cfg)
            for layer in range(layers):
                cache.update(torch.rand(rows, kv, length, d), torch.rand(rows, kv, length, d), layer)
            pos = torch.full((rows, 1), length, dtype=torch.long)

            def step():
                with torch.no_grad():
                    h = lm(
                        inputs_embeds=x,
                        position_ids=pos,
                        past_key_values=cache,
                        use_cache=True,
                    ).last_hidden_state
                    logits = gen_head(h)
                cache.crop(-1)  # the step's position
                return logits

            for _ in range(3):
                step()
            assert cache.get_seq_length() == length
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                step()
                times.append(time.perf_counter() - t)
            print(
                json.dumps(
                    {
                        "framework": "HF transformers + PyTorch (eager)",
                        "threads": threads,
                        "case": name,
                        "cached_positions": length,
                        "step_ms": 1000.0 * statistics.median(times),
                    }
                ),
                flush=True,
            )
        del lm, gen_head


if __name__ == "__main__":
    main()
