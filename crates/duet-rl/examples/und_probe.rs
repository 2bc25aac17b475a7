//! Does a checkpoint read the image when it answers? Scores every option of
//! a split's MC items by the log-prob of its `<answer>X</answer>` response,
//! once with the item's image and once with another scene's image, and
//! prints the accuracy of the argmax per question type for both; then the
//! same with the question asked open-ended (each option's text scored as
//! the response):
//! `cargo run --release -p duet-rl --example und_probe -- CHECKPOINT SPLIT_DIR [N]`.

use std::collections::BTreeMap;

use duet_data::records::McItem;
use duet_model::Cpu;
use duet_model::logprobs::text_logprobs;
use duet_model::prompts::JanusTokenizer;
use duet_rl::tasks;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ckpt = std::path::Path::new(&args[1]);
    let split = std::path::Path::new(&args[2]);
    let n: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(300);
    let dev = Default::default();
    let (_, model) = duet_model::checkpoint::load::<Cpu>(ckpt, &dev).unwrap();
    let ids = duet_model::checkpoint::read_generation_ids(ckpt)
        .unwrap()
        .unwrap();
    let tok = JanusTokenizer::from_file(&ckpt.join("tokenizer.json")).unwrap();
    let n_img = tasks::image_tokens(&model);
    // DUET_MC_TARGET=option scores `option <answer>X</answer>` responses.
    let target = match std::env::var("DUET_MC_TARGET").as_deref() {
        Ok("option") => tasks::McTarget::OptionThenLetter,
        _ => tasks::McTarget::Letter,
    };
    let items: Vec<McItem> = duet_data::io::read_jsonl(&split.join("understanding.jsonl")).unwrap();
    let items = &items[..n.min(items.len())];
    // [type] -> (n, MC correct with own / another image, open-ended own / another)
    let mut acc: BTreeMap<String, (usize, usize, usize, usize, usize)> = BTreeMap::new();
    for (k, item) in items.iter().enumerate() {
        let own = item.image_1.clone().unwrap();
        let other = items[(k + 97) % items.len()].image_1.clone().unwrap();
        let prompt = tasks::understanding_ids(&tok, &tasks::mc_question(item), n_img).unwrap();
        let letters: Vec<String> = (0..item.options.len())
            .map(|i| ((b'A' + i as u8) as char).to_string())
            .collect();
        let responses: Vec<Vec<u32>> = letters
            .iter()
            .zip(&item.options)
            .map(|(l, o)| {
                let text = tasks::mc_target_text(target, o, l);
                tasks::response_ids(&tok, &text, ids.eos_token_id).unwrap()
            })
            .collect();
        let short_prompt =
            tasks::understanding_ids(&tok, &tasks::short_question(item), n_img).unwrap();
        let short_responses: Vec<Vec<u32>> = item
            .options
            .iter()
            .map(|o| tasks::response_ids(&tok, o, ids.eos_token_id).unwrap())
            .collect();
        let pick = |image: &str, prompt: &Vec<u32>, responses: &Vec<Vec<u32>>| -> String {
            let img = duet_data::shapeworld::load_png(&split.join(image)).unwrap();
            let imgs = vec![&img; responses.len()];
            let prompts = vec![prompt.clone(); responses.len()];
            let lp = text_logprobs(
                &model,
                &prompts,
                responses,
                Some(tasks::pixels(&imgs, &dev)),
                ids.pad_token_id,
            )
            .unwrap();
            let s: Vec<f32> = lp.logprobs.sum_dim(1).into_data().to_vec().unwrap();
            let best = (0..s.len()).max_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap();
            letters[best].clone()
        };
        let a = pick(&own, &prompt, &responses);
        let b = pick(&other, &prompt, &responses);
        let c = pick(&own, &short_prompt, &short_responses);
        let d = pick(&other, &short_prompt, &short_responses);
        let e = acc.entry(item.subject.clone()).or_default();
        e.0 += 1;
        e.1 += (a == item.answer) as usize;
        e.2 += (b == item.answer) as usize;
        e.3 += (c == item.answer) as usize;
        e.4 += (d == item.answer) as usize;
    }
    println!("                       MC letter            open-ended (options ranked)");
    println!("type               n   own-image  other    own-image  other");
    for (t, (n, a, b, c, d)) in acc {
        let f = |k: usize| k as f64 / n as f64;
        println!(
            "{t:<16} {n:>4}   {:.3}      {:.3}    {:.3}      {:.3}",
            f(a),
            f(b),
            f(c),
            f(d)
        );
    }
}
