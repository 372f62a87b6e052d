use burn::tensor::Tensor;
use burn::tensor::activation::log_sigmoid;
use pretrained::clip::ClipVisionConfig;
use pretrained::flop::encoder_layers_flop;

use super::*;

fn tiny_sizes() -> Sizes {
    let mut clip = ClipConfig::vit_base_patch32();
    clip.vision_config = ClipVisionConfig {
        hidden_size: 16,
        intermediate_size: 32,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        image_size: 16,
        patch_size: 8,
        ..ClipVisionConfig::default()
    };
    clip.projection_dim = 8;
    Sizes {
        minilm_batch: 3,
        minilm_seq_len: 5,
        clip,
        clip_batch: 2,
        pairs: 4,
        features: 6,
        hidden: 5,
        matmul: vec![("tiny".into(), 3, 4, 5)],
    }
}

fn tiny_bert(device: &Device) -> BertModel {
    BertConfig {
        vocab_size: 50,
        hidden_size: 8,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        intermediate_size: 16,
        max_position_embeddings: 16,
        ..BertConfig::default()
    }
    .init(device)
}

#[test]
fn comparison_sizes_are_the_scripts() {
    let sizes = Sizes::comparison();
    assert_eq!((sizes.minilm_batch, sizes.minilm_seq_len), (64, 35));
    assert_eq!(sizes.clip_batch, 16);
    let v = &sizes.clip.vision_config;
    assert_eq!(
        (v.hidden_size, v.num_hidden_layers, v.patch_size),
        (768, 12, 32)
    );
    assert_eq!((v.image_size, sizes.clip.projection_dim), (224, 512));
    assert_eq!((sizes.pairs, sizes.features, sizes.hidden), (256, 768, 256));
    // the feed-forward up-projections of the two encoder workloads
    assert_eq!(
        sizes.matmul,
        [
            ("minilm_ffn".to_string(), 64 * 35, 384, 4 * 384),
            (
                "clip_vit_b32_ffn".to_string(),
                16 * (49 + 1),
                768,
                v.intermediate_size
            ),
        ]
    );
    assert_eq!(
        Repeats::FULL,
        Repeats {
            warmup: 2,
            repeats: 5
        }
    );
    assert_eq!(
        Repeats::QUICK,
        Repeats {
            warmup: 1,
            repeats: 2
        }
    );
}

#[test]
fn tiny_run_reports_every_workload() {
    let device = Device::flex();
    let mut seen = Vec::new();
    let report = with_threads(1, || {
        run(
            tiny_bert(&device),
            &tiny_sizes(),
            Repeats::QUICK,
            &device,
            |name| seen.push(name.to_string()),
        )
    })
    .unwrap()
    .unwrap();
    assert_eq!(seen, ["minilm", "clip_vit_b32", "pair_head", "tiny"]);
    let (name, products) = &report.matmul[0];
    assert_eq!((name.as_str(), products.repeats.len()), ("tiny", 2));
    assert!(products.median.is_finite() && products.median > 0.0);
    for (t, batch) in [
        (&report.minilm, 3),
        (&report.clip_vision, 2),
        (&report.pair_head, 4),
    ] {
        assert_eq!(t.batch, batch);
        assert_eq!(t.repeats.len(), 2);
        assert!(t.median.is_finite() && t.median > 0.0, "{t:?}");
    }
}

#[test]
fn flop_counts_match_the_published_sizes() {
    // CLIP ViT-B/32 at 224 px: 4.4 GMACs per image (the figure timm and open_clip publish).
    let clip = ClipVisionWorkload::flop_per_image(&ClipConfig::vit_base_patch32());
    assert!((clip / 2e9 - 4.41).abs() < 0.01, "{clip}");
    // all-MiniLM-L6-v2 (6 layers of 384, feed-forward 1536) at 35 tokens, counted by hand:
    // 6 x (8 x 35 x 384^2 + 4 x 35 x 384 x 1536 + 4 x 35^2 x 384).
    let minilm = encoder_layers_flop(35, 384, 1536, 6);
    assert_eq!(minilm, 754_467_840.0);
    // The pair head: forward 2fh + 2h per image, backward 2fh + 4h, two images per pair.
    assert_eq!(PairHeadWorkload::flop_per_pair(3, 2), 2.0 * (16.0 + 20.0));
    let device = Device::flex();
    let work = MinilmWorkload::new(tiny_bert(&device), 3, 5, &device).unwrap();
    let layers = work.model.encoder.layer.len();
    let [width, ffn] = work.model.encoder.layer[0].intermediate.dense.weight.dims();
    assert_eq!(
        work.flop_per_sentence(),
        encoder_layers_flop(5, width, ffn, layers)
    );
}

#[test]
fn matmul_workload_is_the_product_it_counts() {
    let device = Device::flex();
    let work = MatmulWorkload::new(3, 4, 5, &device).unwrap();
    assert_eq!(work.flop(), 2.0 * 60.0);
    let a = work.a.clone().into_data().try_to_vec::<f32>().unwrap();
    let b = work.b.clone().into_data().try_to_vec::<f32>().unwrap();
    let c = work.forward().into_data().try_to_vec::<f32>().unwrap();
    for i in 0..3 {
        for j in 0..5 {
            let want: f32 = (0..4).map(|t| a[i * 4 + t] * b[t * 5 + j]).sum();
            assert!((c[i * 5 + j] - want).abs() < 1e-5, "{i} {j}");
        }
    }
    work.step().unwrap();
    assert!(MatmulWorkload::new(0, 4, 5, &device).is_err());
}

#[test]
fn minilm_embeddings_are_unit_rows_with_special_tokens() {
    let device = Device::flex();
    let work = MinilmWorkload::new(tiny_bert(&device), 3, 5, &device).unwrap();
    let ids = work
        .ids
        .clone()
        .into_data()
        .try_into_vec_as::<i64>()
        .unwrap();
    // A vocabulary under 1000 tokens draws from all of it; 101 and 102 are outside 0..50.
    assert!(ids.iter().all(|&id| (0..50).contains(&id)));
    let out = work.forward();
    assert_eq!(out.dims(), [3, 8]);
    let norms = out
        .square()
        .sum_dim(1)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-5), "{norms:?}");
}

#[test]
fn pair_head_steps_lower_the_loss() {
    let device = Device::flex();
    device.seed(1);
    let mut work = PairHeadWorkload::new(8, 4, 8, &device).unwrap();
    let first = work.step().unwrap();
    let mut last = first;
    for _ in 0..200 {
        last = work.step().unwrap();
    }
    assert!(first.is_finite() && last < first, "{first} -> {last}");
}

#[test]
fn one_pass_over_stacked_pairs_is_the_scripts_two_passes() {
    let device = Device::flex();
    device.seed(2);
    let work = PairHeadWorkload::new(5, 6, 4, &device).unwrap();
    let head = work.head.clone().unwrap();
    let better = work.stacked.clone().narrow(0, 0, 5);
    let worse = work.stacked.clone().narrow(0, 5, 5);
    let two = log_sigmoid(head.forward(better) - head.forward(worse))
        .neg()
        .mean();
    let one = work.loss(&head);
    let (g_two, g_one) = (two.clone().backward(), one.clone().backward());
    let scalar = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().unwrap()[0];
    assert!((scalar(two) - scalar(one)).abs() < 1e-6);
    let grad = |g: &burn::tensor::Gradients| {
        head.fc1
            .weight
            .val()
            .grad(g)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    let (a, b) = (grad(&g_two), grad(&g_one));
    assert!(
        a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-6),
        "{a:?} {b:?}"
    );
}

#[test]
fn bad_sizes_are_errors_not_panics() {
    let device = Device::flex();
    for (batch, len) in [(0, 5), (3, 1), (3, 17)] {
        let err = MinilmWorkload::new(tiny_bert(&device), batch, len, &device).unwrap_err();
        assert!(matches!(err, BenchError::Size(_)), "{err}");
    }
    assert!(ClipVisionWorkload::new(&tiny_sizes().clip, 0, &device).is_err());
    assert!(PairHeadWorkload::new(0, 4, 4, &device).is_err());
    assert!(with_threads(0, || ()).is_err());
    let missing =
        MinilmWorkload::from_folder(Path::new("/nonexistent/minilm"), 1, 4, &device).unwrap_err();
    assert!(
        missing.to_string().contains("REWARDLAB_SHARED"),
        "{missing}"
    );
}
