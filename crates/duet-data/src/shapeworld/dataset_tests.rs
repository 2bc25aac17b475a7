//! The dataset writer: determinism, the rl split, the train-prompt guard.
use super::*;

#[test]
fn small_dataset_is_complete_and_deterministic() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let opts = GenerateOptions::new(40, 5);
    let m = generate(a.path(), &opts, |_, _| {}).unwrap();
    generate(b.path(), &opts, |_, _| {}).unwrap();
    assert_eq!(m.splits["train"].scenes, 32);
    for split in SPLITS {
        for f in [
            "scenes.jsonl",
            "generation.jsonl",
            "evaluation_metadata.jsonl",
            "understanding.jsonl",
            "answers.json",
        ] {
            let x = std::fs::read(a.path().join(split).join(f)).unwrap();
            let y = std::fs::read(b.path().join(split).join(f)).unwrap();
            assert_eq!(x, y, "{split}/{f} differs between runs");
        }
        let x = std::fs::read(a.path().join(split).join("images/000001.png")).unwrap();
        assert_eq!(
            x,
            std::fs::read(b.path().join(split).join("images/000001.png")).unwrap()
        );
    }
    let items: Vec<McItem> = read_jsonl(&a.path().join("test/understanding.jsonl")).unwrap();
    assert!(
        items
            .iter()
            .all(|i| i.options.len() == 4 && i.id.starts_with("test_"))
    );
}

#[test]
fn rl_split_holds_fresh_scenes_of_training_prompts_and_changes_no_other_split() {
    let plain = tempfile::tempdir().unwrap();
    let with_rl = tempfile::tempdir().unwrap();
    let mut opts = GenerateOptions::new(40, 5);
    generate(plain.path(), &opts, |_, _| {}).unwrap();
    opts.rl_n = 24;
    let m = generate(with_rl.path(), &opts, |_, _| {}).unwrap();
    assert_eq!(m.splits[RL_SPLIT].scenes, 24);
    assert!(m.command.ends_with("--rl 24"), "{}", m.command);
    for split in SPLITS {
        for f in ["scenes.jsonl", "understanding.jsonl", "images/000003.png"] {
            let x = std::fs::read(plain.path().join(split).join(f)).unwrap();
            let y = std::fs::read(with_rl.path().join(split).join(f)).unwrap();
            assert_eq!(x, y, "{split}/{f} changed when the rl split was added");
        }
    }
    assert!(!plain.path().join(RL_SPLIT).exists());
    let scenes = |split: &str| -> Vec<SceneRecord> {
        read_jsonl(&with_rl.path().join(split).join("scenes.jsonl")).unwrap()
    };
    let (train, rl) = (scenes("train"), scenes(RL_SPLIT));
    let mut part_rng = ChaCha8Rng::seed_from_u64(opts.seed);
    part_rng.set_stream(0);
    let pools = partition_prompts(&mut part_rng);
    let train_pool: HashSet<&str> = pools[0].iter().map(|m| m.prompt.as_str()).collect();
    assert!(rl.iter().all(|s| train_pool.contains(s.prompt.as_str())));
    let train_scenes: Vec<&Scene> = train.iter().map(|s| &s.scene).collect();
    assert!(rl.iter().all(|s| !train_scenes.contains(&&s.scene)));
    assert!(rl.iter().all(|s| s.id.starts_with("rl_")));
    // Adding the split to a dataset made without it gives the same files
    // and manifest as generating it with the split.
    let added = add_rl_split(plain.path(), 24, |_, _| {}).unwrap();
    assert_eq!(added, m);
    for f in ["scenes.jsonl", "understanding.jsonl", "images/000005.png"] {
        let x = std::fs::read(plain.path().join(RL_SPLIT).join(f)).unwrap();
        let y = std::fs::read(with_rl.path().join(RL_SPLIT).join(f)).unwrap();
        assert_eq!(x, y, "rl/{f} differs when added later");
    }
    // Old manifests (no `rl_n`) still read, and a plain one writes none.
    let plain = tempfile::tempdir().unwrap();
    generate(plain.path(), &GenerateOptions::new(40, 5), |_, _| {}).unwrap();
    let text = std::fs::read_to_string(plain.path().join("manifest.json")).unwrap();
    assert!(!text.contains("rl_n"));
    let back: Manifest = serde_json::from_str(&text).unwrap();
    assert_eq!(back.options.rl_n, 0);
}

#[test]
fn guard_refuses_train_prompts_and_passes_test_prompts() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), &GenerateOptions::new(60, 9), |_, _| {}).unwrap();
    let train_file = dir.path().join("train/generation.jsonl");
    let test_meta_path = dir.path().join("test/evaluation_metadata.jsonl");
    assert_eq!(train_file_for(&test_meta_path), Some(train_file.clone()));
    let test_meta: Vec<GenEvalMetadata> = read_jsonl(&test_meta_path).unwrap();
    guard_against_train_prompts(&test_meta, &test_meta_path, &train_file).unwrap();
    let train_meta: Vec<GenEvalMetadata> =
        read_jsonl(&dir.path().join("train/evaluation_metadata.jsonl")).unwrap();
    let err = guard_against_train_prompts(&train_meta, &test_meta_path, &train_file).unwrap_err();
    assert!(err.to_string().contains("refusing to evaluate"), "{err}");
}
