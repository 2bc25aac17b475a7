#!/usr/bin/env python3
"""Build a TINY random Janus (HF `transformers.models.janus`) model and dump reference data.

Purpose: numerical-parity fixtures for a from-scratch re-implementation (Rust/burn).
It writes, under --out (default target/janus_tiny_ref):

  checkpoint/            save_pretrained() output: config.json, generation_config.json,
                         model.safetensors  (HF key names; the VQ-VAE in bfloat16, the rest
                         float32, so the loader's dtype handling is exercised too)
  reference.safetensors  named float32/int64/uint8 arrays (inputs + intermediate + final outputs)
  reference.json         metadata: versions, config, special ids, array shapes, timings, notes

With --check-duet DIR it instead loads a checkpoint that duet saved (DIR/config.json,
DIR/model.safetensors), runs the understanding forward on the reference inputs and prints
the max abs difference of its logits from the reference (the round-trip check).

The model is created with a fixed seed, saved, then RE-LOADED from disk; all reference
outputs are computed with the reloaded model so they correspond exactly to the saved
safetensors. Everything runs on CPU in float32 with the eager attention implementation.

Tested with: torch 2.15.0 (PyPI CUDA wheel, used on CPU), transformers 5.23.0,
torchvision 0.29.2, pillow, numpy.  Run:  python janus_tiny_reference.py --out DIR
"""

import argparse
import json
import os
import platform
import time

import numpy as np
import torch

import transformers
from transformers import JanusConfig, JanusForConditionalGeneration
from transformers.generation import GenerationConfig

# ----------------------------------------------------------------------------------------
# Tiny configuration.  Structure mirrors Janus-Pro (MHA Llama, 2-layer GELU aligners,
# 5-level VQ with 16x down/up-sampling, vision patch 16) but every width is small.
# ----------------------------------------------------------------------------------------
VOCAB = 128
PAD_ID = 0          # text_config.pad_token_id (tokenizer pad; embed padding_idx)
BOS_ID = 1
EOS_ID = 2
GEN_PAD_ID = 3      # generation_config.pad_token_id (the "<｜▁pad▁｜>" analogue used for CFG)
BOI_ID = 4          # <begin_of_image>
EOI_ID = 5          # <end_of_image>
IMAGE_TOKEN_ID = 6  # <image_placeholder>

IMAGE_SIZE = 64     # vision encoder input (real: 384)
PATCH = 16          # real: 16  -> 4x4 = 16 image tokens (real: 24x24 = 576)
NUM_IMAGE_TOKENS = (IMAGE_SIZE // PATCH) ** 2
TEXT_HIDDEN = 64
CFG_SCALE = 5.0


def make_config() -> JanusConfig:
    text_config = dict(
        model_type="llama",
        vocab_size=VOCAB,
        hidden_size=TEXT_HIDDEN,
        intermediate_size=176,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        head_dim=TEXT_HIDDEN // 4,
        hidden_act="silu",
        max_position_embeddings=256,
        rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        attention_bias=False,
        mlp_bias=False,
        tie_word_embeddings=False,
        pad_token_id=PAD_ID,
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
    )
    vision_config = dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_channels=3,
        image_size=IMAGE_SIZE,
        patch_size=PATCH,
        hidden_act="gelu",
        layer_norm_eps=1e-6,
        mlp_ratio=4.0,
        attention_bias=True,
        projection_dim=TEXT_HIDDEN,   # aligner output = LLM hidden size
        depth=2,                      # aligner: fc1 -> GELU -> hidden_layers.0
        num_image_tokens=NUM_IMAGE_TOKENS,
    )
    vq_config = dict(
        embed_dim=8,                  # codebook dim (real 8)
        num_embeddings=64,            # codebook size (real 16384)
        latent_channels=32,           # z channels (real 256)
        in_channels=3,
        out_channels=3,
        base_channels=32,             # must be a multiple of 32 (GroupNorm(32))
        channel_multiplier=[1, 1, 1, 1, 2],  # 16x down/up like Janus; one channel change (nin_shortcut)
        num_res_blocks=1,             # real 2; keeps the fixture small
        projection_dim=TEXT_HIDDEN,   # gen aligner width (real = LLM hidden)
        num_hidden_layers=2,          # gen aligner depth
        hidden_act="gelu",
        image_token_embed_dim=TEXT_HIDDEN,
    )
    return JanusConfig(
        text_config=text_config,
        vision_config=vision_config,
        vq_config=vq_config,
        image_token_id=IMAGE_TOKEN_ID,
        tie_word_embeddings=False,    # real Janus-Pro ships a separate lm_head.weight
    )


def make_generation_config() -> GenerationConfig:
    return GenerationConfig(
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
        pad_token_id=GEN_PAD_ID,
        guidance_scale=CFG_SCALE,
        temperature=1.0,
        generation_kwargs={"boi_token_id": BOI_ID},
    )


def np32(t):
    return t.detach().to(torch.float32).cpu().numpy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="target/janus_tiny_ref")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--check-duet", default=None, help="checkpoint dir written by duet")
    args = ap.parse_args()
    if args.check_duet:
        return check_duet(args)

    t_start = time.time()
    timings = {}
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    ckpt_dir = os.path.join(args.out, "checkpoint")

    # ---------------- build, randomise, save ----------------
    t = time.time()
    config = make_config()
    model = JanusForConditionalGeneration(config)
    # Default init leaves many tensors at 0/1 (norm weights, biases); perturb every
    # parameter so that a wrong weight mapping cannot go unnoticed in parity tests.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("codebook_used"):
                continue
            if p.dim() == 1 and ("norm" in name or "layer_norm" in name):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif p.dim() == 1:
                p.copy_(0.05 * torch.randn_like(p))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn_like(p) / max(fan_in, 1) ** 0.5)
    model.generation_config = make_generation_config()
    model.model.vqmodel.to(torch.bfloat16)   # mixed dtypes in one file; reload upcasts exactly
    model.save_pretrained(ckpt_dir, safe_serialization=True)
    timings["build_and_save_s"] = time.time() - t

    # ---------------- reload from disk (reference = saved weights) ----------------
    t = time.time()
    model = JanusForConditionalGeneration.from_pretrained(
        ckpt_dir, dtype=torch.float32, attn_implementation="eager"
    ).eval()
    timings["reload_s"] = time.time() - t

    from safetensors import safe_open

    st_keys = {}
    with safe_open(os.path.join(ckpt_dir, "model.safetensors"), "pt") as f:
        for k in f.keys():
            st_keys[k] = list(f.get_slice(k).get_shape())

    ref = {}
    g = torch.Generator().manual_seed(args.seed + 1)

    # =============== 1. understanding forward ===============
    t = time.time()
    B = 2
    text_a = torch.randint(7, VOCAB, (B, 5), generator=g)
    text_b = torch.randint(7, VOCAB, (B, 4), generator=g)
    img_block = torch.tensor([BOI_ID] + [IMAGE_TOKEN_ID] * NUM_IMAGE_TOKENS + [EOI_ID])
    input_ids = torch.cat(
        [torch.full((B, 1), BOS_ID), text_a, img_block.expand(B, -1), text_b], dim=1
    )
    attention_mask = torch.ones_like(input_ids)
    pixel_values = torch.rand(B, 3, IMAGE_SIZE, IMAGE_SIZE, generator=g) * 2 - 1
    # forward hooks: raw output of every LLM decoder layer (pre final-norm)
    layer_outs = {}
    hooks = []
    for li, layer in enumerate(model.model.language_model.layers):
        def _hook(mod, inp, outp, li=li):
            layer_outs[li] = outp[0] if isinstance(outp, tuple) else outp
        hooks.append(layer.register_forward_hook(_hook))
    with torch.no_grad():
        vis = model.model.vision_model(pixel_values, output_hidden_states=True, return_dict=True)
        image_embeds = model.model.aligner(vis.last_hidden_state)
        out = model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            pixel_values=pixel_values,
            output_hidden_states=True,
            return_dict=True,
            use_cache=False,
        )
        # merged input embeddings, built by hand (this is what JanusModel does internally)
        emb = model.get_input_embeddings()(input_ids)
        mask = (input_ids == IMAGE_TOKEN_ID).unsqueeze(-1)
        merged = emb.masked_scatter(mask, image_embeds.reshape(-1, TEXT_HIDDEN))
    ref["und_input_ids"] = input_ids.numpy().astype(np.int64)
    ref["und_attention_mask"] = attention_mask.numpy().astype(np.int64)
    ref["und_pixel_values"] = np32(pixel_values)
    ref["und_vision_patch_embeds_plus_pos"] = np32(vis.hidden_states[0])
    for i, h in enumerate(vis.hidden_states):
        ref[f"und_vision_hidden_{i}"] = np32(h)
    ref["und_vision_last_hidden_post_ln"] = np32(vis.last_hidden_state)
    ref["und_image_embeds_aligned"] = np32(image_embeds)
    ref["und_inputs_embeds_merged"] = np32(merged)
    for i, h in enumerate(out.hidden_states):
        ref[f"und_lm_hidden_{i}"] = np32(h)
    for li in sorted(layer_outs):
        ref[f"und_lm_layer_out_{li}"] = np32(layer_outs[li])
    for h in hooks:
        h.remove()
    ref["und_logits"] = np32(out.logits)
    ref["und_next_token_greedy"] = out.logits[:, -1].argmax(-1).numpy().astype(np.int64)
    timings["understanding_forward_s"] = time.time() - t

    # =============== 2. image generation: manual CFG steps ===============
    t = time.time()
    prompt = torch.cat(
        [torch.full((1, 1), BOS_ID), torch.randint(7, VOCAB, (1, 6), generator=g), torch.full((1, 1), BOI_ID)],
        dim=1,
    )
    cond = prompt.clone()
    uncond = prompt.clone()
    keep = (uncond == BOS_ID) | (uncond == BOI_ID)
    uncond[~keep] = GEN_PAD_ID
    cfg_ids = torch.cat([cond, uncond], dim=0)  # HF layout: [cond rows ; uncond rows]
    with torch.no_grad():
        lm = model.model.language_model
        embeds = model.get_input_embeddings()(cfg_ids)
        o1 = lm(inputs_embeds=embeds, use_cache=True, return_dict=True)
        h1 = o1.last_hidden_state[:, -1, :]
        logits1 = model.model.generation_head(h1)                  # [2, codebook]
        guided1 = logits1[1:2] + CFG_SCALE * (logits1[0:1] - logits1[1:2])
        tok1 = guided1.argmax(-1)                                  # greedy
        next_emb = model.prepare_embeddings_for_image_generation(tok1.repeat(2).unsqueeze(-1))
        o2 = lm(inputs_embeds=next_emb, past_key_values=o1.past_key_values, use_cache=True, return_dict=True)
        h2 = o2.last_hidden_state[:, -1, :]
        logits2 = model.model.generation_head(h2)
        guided2 = logits2[1:2] + CFG_SCALE * (logits2[0:1] - logits2[1:2])
        tok2 = guided2.argmax(-1)
        # step-2 recomputed without KV cache (full sequence), for cache-free implementations
        full = torch.cat([embeds, next_emb], dim=1)
        o2_nocache = lm(inputs_embeds=full, use_cache=False, return_dict=True)
        logits2_nocache = model.model.generation_head(o2_nocache.last_hidden_state[:, -1, :])
    ref["gen_prompt_ids"] = prompt.numpy().astype(np.int64)
    ref["gen_cfg_input_ids"] = cfg_ids.numpy().astype(np.int64)
    ref["gen_step1_last_hidden"] = np32(h1)
    ref["gen_step1_logits_cond_uncond"] = np32(logits1)
    ref["gen_step1_logits_guided"] = np32(guided1)
    ref["gen_step1_token"] = tok1.numpy().astype(np.int64)
    ref["gen_step2_input_embeds"] = np32(next_emb)
    ref["gen_step2_logits_cond_uncond"] = np32(logits2)
    ref["gen_step2_logits_cond_uncond_nocache"] = np32(logits2_nocache)
    ref["gen_step2_logits_guided"] = np32(guided2)
    ref["gen_step2_token"] = tok2.numpy().astype(np.int64)
    timings["gen_manual_steps_s"] = time.time() - t

    # =============== 3. full greedy image generation through HF generate() ===============
    t = time.time()
    with torch.no_grad():
        gen_tokens = model.generate(
            input_ids=prompt,
            attention_mask=torch.ones_like(prompt),
            generation_mode="image",
            do_sample=False,
            guidance_scale=CFG_SCALE,
        )
    ref["gen_generate_greedy_tokens"] = gen_tokens.numpy().astype(np.int64)
    timings["gen_generate_greedy_s"] = time.time() - t
    manual_matches_generate = bool(
        int(gen_tokens[0, 0]) == int(tok1[0]) and int(gen_tokens[0, 1]) == int(tok2[0])
    )

    # =============== 4. VQ decode of generated tokens + pixel postprocessing ===============
    t = time.time()
    with torch.no_grad():
        codebook_entry = model.model.vqmodel.quantize.get_codebook_entry(gen_tokens)
        decoded = model.decode_image_tokens(gen_tokens)            # [B, H, W, C], ~[-1, 1]
    # JanusImageProcessor.postprocess with mean=std=0.5, rescale 1/255  ==  clip((x+1)/2*255) -> uint8 (trunc)
    pixels_u8 = np.clip((decoded.numpy() * 0.5 + 0.5) * 255.0, 0, 255).astype(np.uint8)
    ref["vq_decode_codebook_entry_l2norm"] = np32(codebook_entry)
    ref["vq_decoded_bhwc"] = np32(decoded)
    ref["vq_decoded_uint8_bhwc"] = pixels_u8
    timings["vq_decode_s"] = time.time() - t

    # =============== 5. VQ encode (image -> codes) on a random image ===============
    t = time.time()
    vq_in = torch.rand(1, 3, IMAGE_SIZE, IMAGE_SIZE, generator=g) * 2 - 1
    with torch.no_grad():
        enc = model.model.vqmodel.encode(vq_in, return_dict=True)
        roundtrip = model.model.vqmodel(vq_in, return_dict=True)
    ref["vq_encode_input"] = np32(vq_in)
    ref["vq_encoder_out"] = np32(enc.last_hidden_state)
    ref["vq_quantized"] = np32(enc.quantized_last_hidden_state)
    ref["vq_codes"] = enc.image_tokens.numpy().astype(np.int64)
    ref["vq_roundtrip_decoded_bchw"] = np32(roundtrip.decoded_pixel_values)
    timings["vq_encode_s"] = time.time() - t

    # =============== 6. image preprocessing (processor) reference ===============
    t = time.time()
    preproc_notes = {}
    rgb = np.zeros((37, 53, 3), dtype=np.uint8)  # non-square H=37, W=53
    yy, xx = np.mgrid[0:37, 0:53]
    rgb[..., 0] = (xx * 4.8) % 256
    rgb[..., 1] = (yy * 6.9) % 256
    rgb[..., 2] = ((xx + yy) * 2.7) % 256
    ref["pre_input_rgb_hwc_uint8"] = rgb
    common = dict(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}, image_mean=[0.5, 0.5, 0.5],
                  image_std=[0.5, 0.5, 0.5], min_size=14)
    try:
        from PIL import Image
        from transformers import JanusImageProcessorPil

        pil_proc = JanusImageProcessorPil(**common)
        ref["pre_pixel_values_pil_backend"] = np32(
            torch.as_tensor(np.array(pil_proc(Image.fromarray(rgb), return_tensors="np")["pixel_values"]))
        )
        preproc_notes["pil_backend"] = "ok"
    except Exception as e:  # pragma: no cover
        preproc_notes["pil_backend"] = f"failed: {e!r}"
    try:
        from PIL import Image
        from transformers import JanusImageProcessor

        tv_proc = JanusImageProcessor(**common)
        ref["pre_pixel_values_torchvision_backend"] = np32(
            tv_proc(Image.fromarray(rgb), return_tensors="pt")["pixel_values"]
        )
        preproc_notes["torchvision_backend"] = "ok"
    except Exception as e:  # pragma: no cover
        preproc_notes["torchvision_backend"] = f"failed: {e!r}"
    timings["preprocess_s"] = time.time() - t

    # ---------------- write ----------------
    # arrays as safetensors (read from Rust with the `safetensors` crate)
    from safetensors.numpy import save_file as np_save_safetensors

    np_save_safetensors({k: np.ascontiguousarray(v) for k, v in ref.items()},
                        os.path.join(args.out, "reference.safetensors"))
    timings["total_s"] = time.time() - t_start
    meta = {
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "numpy": np.__version__,
        },
        "seed": args.seed,
        "dtype": "float32",
        "attn_implementation": "eager",
        "special_ids": {
            "pad(text/embedding padding_idx)": PAD_ID,
            "bos": BOS_ID,
            "eos": EOS_ID,
            "gen_pad(CFG uncond fill)": GEN_PAD_ID,
            "boi": BOI_ID,
            "eoi": EOI_ID,
            "image_token_id": IMAGE_TOKEN_ID,
        },
        "num_image_tokens": NUM_IMAGE_TOKENS,
        "cfg_scale": CFG_SCALE,
        "config": json.loads(model.config.to_json_string()),
        "safetensors_keys": st_keys,
        "arrays": {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in ref.items()},
        "checks": {
            "manual_cfg_steps_match_generate": manual_matches_generate,
            "step2_cache_vs_nocache_maxabs": float((logits2 - logits2_nocache).abs().max()),
            "lm_hidden_0_equals_merged_embeds_maxabs": float(
                np.abs(ref["und_lm_hidden_0"] - ref["und_inputs_embeds_merged"]).max()
            ),
            "lm_head_tied": bool(
                model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
            ),
            "preprocessing": preproc_notes,
        },
        "notes": [
            "und_lm_hidden_0 = inputs_embeds (after image-feature merge); und_lm_hidden_i (0<i<n_layers) = "
            "output of decoder layer i-1; und_lm_hidden_{n_layers} = FINAL hidden state AFTER the final "
            "RMSNorm (logits = lm_head(und_lm_hidden_{n_layers})). und_lm_layer_out_i = raw output of "
            "decoder layer i (forward hook, pre final norm).",
            "und_vision_hidden_0 = patch embeds + pos embeds; und_vision_hidden_i = output of encoder "
            "layer i-1 (no post-LN); und_vision_last_hidden_post_ln = post_layernorm(last layer output).",
            "CFG rows: HF stacks [cond ; uncond] along batch; the original DeepSeek script interleaves "
            "(even=cond, odd=uncond). guided = uncond + scale * (cond - uncond).",
            "uncond prompt = prompt with every token that is neither BOS nor BOI replaced by gen_pad.",
            "vq_decoded_bhwc is decode_image_tokens() output (channels-last); uint8 = clip((x+1)/2*255).",
            "VQ encode in HF does NOT l2-normalise z/codebook (original DeepSeek code does); decode does.",
        ],
        "timings": timings,
    }
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps({"out": args.out, "timings": timings, "checks": meta["checks"]}, indent=1))


def check_duet(args):
    """Round trip: a checkpoint saved by duet loads in transformers and gives the reference logits."""
    from safetensors.numpy import load_file

    ref = load_file(os.path.join(args.out, "reference.safetensors"))
    model = JanusForConditionalGeneration.from_pretrained(
        args.check_duet, dtype=torch.float32, attn_implementation="eager"
    ).eval()
    with torch.no_grad():
        out = model(
            input_ids=torch.as_tensor(ref["und_input_ids"]),
            attention_mask=torch.ones_like(torch.as_tensor(ref["und_input_ids"])),
            pixel_values=torch.as_tensor(ref["und_pixel_values"]),
            use_cache=False,
            return_dict=True,
        )
    diff = float(np.abs(out.logits.numpy() - ref["und_logits"]).max())
    print(json.dumps({"checkpoint": args.check_duet, "logits_max_abs_diff": diff}))
    return 0 if diff <= 1e-5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
