//! How much a checkpoint's image generation listens to the prompt: the
//! log-likelihood (nats per image) of a split's VQ codes after their own
//! prompt, after another scene's prompt and after the unconditional (CFG)
//! prompt, each with the short prompt and with the scene's caption:
//! `cargo run --release -p duet-rl --example gen_probe -- CHECKPOINT SPLIT_DIR [N]`.

use duet_data::shapeworld::SceneRecord;
use duet_model::Cpu;
use duet_model::generate::uncond_prompt;
use duet_model::logprobs::{GenLogprobMode, image_logprobs};
use duet_model::prompts::JanusTokenizer;
use duet_rl::tasks;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ckpt = std::path::Path::new(&args[1]);
    let split = std::path::Path::new(&args[2]);
    let n: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(128);
    let dev = Default::default();
    let (_, model) = duet_model::checkpoint::load::<Cpu>(ckpt, &dev).unwrap();
    let ids = duet_model::checkpoint::read_generation_ids(ckpt)
        .unwrap()
        .unwrap();
    let tok = JanusTokenizer::from_file(&ckpt.join("tokenizer.json")).unwrap();
    let gen_cfg = tasks::cond_image_cfg(&ids);
    let scenes: Vec<SceneRecord> = duet_data::io::read_jsonl(&split.join("scenes.jsonl")).unwrap();
    let scenes = &scenes[..n.min(scenes.len())];
    let mut sums = [0.0f64; 5];
    for chunk in scenes.chunks(32) {
        let imgs: Vec<_> = chunk
            .iter()
            .map(|s| duet_data::shapeworld::load_png(&split.join(&s.image)).unwrap())
            .collect();
        let refs: Vec<_> = imgs.iter().collect();
        let codes = model.vqmodel.encode(tasks::pixels(&refs, &dev)).codes;
        let [b, k] = codes.dims();
        let flat: Vec<u32> = codes.into_data().iter::<i64>().map(|c| c as u32).collect();
        let codes: Vec<Vec<u32>> = (0..b).map(|i| flat[i * k..(i + 1) * k].to_vec()).collect();
        let own: Vec<Vec<u32>> = chunk
            .iter()
            .map(|s| tasks::generation_ids(&tok, &s.prompt).unwrap())
            .collect();
        let caption: Vec<Vec<u32>> = chunk
            .iter()
            .map(|s| tasks::generation_ids(&tok, &s.caption).unwrap())
            .collect();
        let shift = |v: &Vec<Vec<u32>>| -> Vec<Vec<u32>> {
            (0..v.len()).map(|i| v[(i + 1) % v.len()].clone()).collect()
        };
        let uncond: Vec<Vec<u32>> = own.iter().map(|p| uncond_prompt(p, &gen_cfg)).collect();
        for (slot, prompts) in [
            own.clone(),
            shift(&own),
            caption.clone(),
            shift(&caption),
            uncond,
        ]
        .iter()
        .enumerate()
        {
            let lp =
                image_logprobs(&model, prompts, &codes, GenLogprobMode::Cond, &gen_cfg).unwrap();
            let s: f64 = lp.logprobs.sum().into_scalar() as f64;
            sums[slot] += s;
        }
    }
    let m = scenes.len() as f64;
    println!(
        "log p(codes | ·) in nats per image over {} scenes ({} tokens each):",
        scenes.len(),
        tasks::image_tokens(&model)
    );
    for (name, s) in [
        "own prompt",
        "another scene's prompt",
        "own caption",
        "another scene's caption",
        "unconditional",
    ]
    .iter()
    .zip(sums)
    {
        println!("  {name:<24} {:8.2}", s / m);
    }
}
