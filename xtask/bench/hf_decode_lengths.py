"""Per-token image decode time in HF transformers + PyTorch (eager) as the
image grows: the same shape as duet's criterion group
`image_decode_cfg_batch4_tokens` (crates/duet-model/benches/sampling.rs):
batch 4, CFG 5 (8 decoder rows), KV cache, temperature 1, 64 / 256 / 576
image tokens, on the checkpoint `bench_compare` saved (the `shapeworld`
preset; the position table is widened so 576 tokens fit, as the criterion
bench does). Prints one JSON line per length.

Usage: hf_decode_lengths.py CHECKPOINT_DIR [REPEATS] [THREADS]
"""

import json
import statistics
import sys
import time

from hf_bench import generate_images, load


def main():
    ckpt = sys.argv[1]
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    batch = 4
    model, prompts = load(ckpt, threads, batch)
    for n_tok in (64, 256, 576):
        model.config.vision_config.num_image_tokens = n_tok
        lm = model.model.language_model
        lm.config.max_position_embeddings = max(lm.config.max_position_embeddings, n_tok + 16)

        def generate():
            return generate_images(model, prompts)

        out = generate()  # warm-up, and the shape check
        assert out.shape == (batch, n_tok), out.shape
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            generate()
            times.append(time.perf_counter() - t)
        s = statistics.median(times)
        print(
            json.dumps(
                {
                    "framework": "HF transformers + PyTorch (eager)",
                    "threads": threads,
                    "batch": batch,
                    "image_tokens": n_tok,
                    "decode_s": s,
                    "ms_per_token_step": 1000.0 * s / n_tok,
                }
            )
        )


if __name__ == "__main__":
    main()
