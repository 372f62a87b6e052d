//! Writes the committed seeds of the fuzz targets, `fuzz/seeds/TARGET/`: small valid files of
//! each format, made by rewardlab's own writers (or by hand where rewardlab only reads the
//! format), so that the fuzzer starts from inputs that reach deep into each reader. Real files
//! are added at fuzzing time from `../shared` (`fuzz/seeds.txt`), never copied here.
//!
//! Run from the repository root: `$CARGO_TARGET_DIR/release/write-fuzz-seeds`.

use std::path::{Path, PathBuf};

use annotations::DatasetMeta;
use burn::tensor::Device;
use image::{DynamicImage, ImageFormat};
use safetensors::Dtype;
use safetensors::tensor::TensorView;
use tables::PlainColumn;

fn main() {
    let root = Path::new("fuzz/seeds");
    assert!(
        Path::new("fuzz/fuzz_targets").is_dir(),
        "run from the repository root"
    );
    let world = synth::generate(&synth::WorldConfig::small(3, 7));
    tables(root, &world);
    configs(root);
    weights(root);
    tokenizer(root);
    images(root);
    manifest(root);
    let gt = synth::ground_truth_csv(&world.truth[..6.min(world.truth.len())]);
    write(root, "ground_truth_csv/ground_truth.csv", gt.as_bytes());
    write(
        root,
        "scores_csv/scores.csv",
        b"generation_id,score,alignment\ng1,0.5,1.0\n\"g,2\",-1e3,\ng3,2.5e-3,2\n\ng4,0,0\n",
    );
    println!("seeds written under {}", root.display());
}

fn write(root: &Path, relative: &str, bytes: &[u8]) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rewardlab-seeds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

const HEADER: &str = "prompt_id,prompt,category,expected_images,generation_id,image,annotator,rank,overall,alignment,fidelity,harmlessness";

/// The same six rows in every table format: two prompts, two annotators, a tie, a missing
/// rating, quoting, non-ASCII text.
const ROWS: [[&str; 12]; 6] = [
    [
        "p1",
        "a cat, on a \"mat\"",
        "animals",
        "2",
        "g1",
        "images/g1.png",
        "a",
        "1",
        "6",
        "7",
        "5",
        "7",
    ],
    [
        "p1",
        "a cat, on a \"mat\"",
        "animals",
        "2",
        "g2",
        "images/g2.png",
        "a",
        "2",
        "3",
        "",
        "4",
        "7",
    ],
    [
        "p1",
        "a cat, on a \"mat\"",
        "animals",
        "2",
        "g1",
        "images/g1.png",
        "b",
        "1",
        "5",
        "6",
        "5",
        "6",
    ],
    [
        "p1",
        "a cat, on a \"mat\"",
        "animals",
        "2",
        "g2",
        "images/g2.png",
        "b",
        "1",
        "5",
        "5",
        "5",
        "6",
    ],
    [
        "p2",
        "Café in Zürich 🚀",
        "places",
        "2",
        "g3",
        "images/g3.png",
        "a",
        "2",
        "2",
        "1",
        "3",
        "7",
    ],
    [
        "p2",
        "Café in Zürich 🚀",
        "places",
        "2",
        "g4",
        "images/g4.png",
        "a",
        "1",
        "7",
        "7",
        "6",
        "1",
    ],
];

fn tables(root: &Path, world: &synth::World) {
    let fields: Vec<&str> = HEADER.split(',').collect();
    let csv_cell = |v: &str| {
        if v.contains([',', '"']) {
            format!("\"{}\"", v.replace('"', "\"\""))
        } else {
            v.to_string()
        }
    };
    let mut csv = format!("{HEADER}\n");
    let mut jsonl = String::new();
    let mut records = Vec::new();
    for row in ROWS {
        csv.push_str(&row.map(csv_cell).join(","));
        csv.push('\n');
        let record: serde_json::Map<String, serde_json::Value> = fields
            .iter()
            .zip(row)
            .filter(|(_, v)| !v.is_empty())
            .map(|(f, v)| {
                let value = match v.parse::<i64>() {
                    Ok(n) if !f.ends_with("id") => serde_json::json!(n),
                    _ => serde_json::json!(v),
                };
                (f.to_string(), value)
            })
            .collect();
        jsonl.push_str(&serde_json::to_string(&record).unwrap());
        jsonl.push('\n');
        records.push(serde_json::Value::Object(record));
    }
    write(root, "table_csv/ratings.csv", csv.as_bytes());
    write(root, "table_jsonl/ratings.jsonl", jsonl.as_bytes());
    let json = serde_json::to_string_pretty(&records).unwrap();
    write(root, "table_json/ratings.json", json.as_bytes());

    let columns = fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let cells = ROWS.iter().map(|r| r[i]);
            let column = if ["rank", "expected_images"].contains(f) {
                PlainColumn::Int(cells.map(|v| v.parse().ok()).collect())
            } else if ["overall", "alignment", "fidelity", "harmlessness"].contains(f) {
                PlainColumn::Float(cells.map(|v| v.parse().ok()).collect())
            } else {
                PlainColumn::Text(cells.map(|v| Some(v.to_string())).collect())
            };
            (f.to_string(), column)
        })
        .collect();
    let parquet = scratch("ratings.parquet");
    tables::write_parquet_columns(&parquet, columns).unwrap();
    write(
        root,
        "table_parquet/ratings.parquet",
        &std::fs::read(&parquet).unwrap(),
    );

    // ImageRewardDB's column names, as its per-split JSON has them.
    let db: Vec<serde_json::Value> = ROWS
        .iter()
        .map(|r| {
            serde_json::json!({
                "image_path": r[5], "prompt_id": r[0], "prompt": r[1], "classification": r[2],
                "image_amount_in_total": 2, "rank": r[7].parse::<i64>().unwrap(),
                "overall_rating": r[8].parse::<f64>().ok(),
                "image_text_alignment_rating": r[9].parse::<f64>().ok(),
                "fidelity_rating": r[10].parse::<f64>().ok(),
            })
        })
        .collect();
    let db = serde_json::to_string(&db).unwrap();
    write(root, "imagerewarddb/train.json", db.as_bytes());

    // A synthetic world's canonical annotations.
    let dir = scratch("world");
    let ds = world.dataset(&dir);
    tables::write_dataset(&ds, &dir).unwrap();
    let bytes = std::fs::read(dir.join(tables::ANNOTATIONS_FILE)).unwrap();
    write(root, "annotations_parquet/annotations.parquet", &bytes);
}

fn configs(root: &Path) {
    let mut meta = DatasetMeta::new("ratings", "table");
    meta.description = "a \"quoted\" description\nover two lines".into();
    meta.rank_tiers = Some(5);
    meta.columns = [
        ("prompt", "caption"),
        ("overall", "score"),
        ("rank", "rank"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    write(root, "dataset_toml/dataset.toml", meta.to_toml().as_bytes());

    let path = scratch("model_config.json");
    model::ModelConfig::tiny().save_json(&path).unwrap();
    write(
        root,
        "model_config/model_config.json",
        &std::fs::read(&path).unwrap(),
    );

    // A study with its base inline (a `base` file would not be beside the fuzzer's input).
    let smoke = std::fs::read_to_string("experiments/smoke.toml").unwrap();
    let study = format!(
        "{smoke}\n[ablation]\nname = \"seed\"\nseeds = [0, 1]\nresamples = 100\n\n[[ablation.axes]]\nkey = \"model.fusion\"\nvalues = [\"concat\", \"cross_attention\"]\n"
    );
    write(root, "study_config/study.toml", study.as_bytes());
}

fn weights(root: &Path) {
    // The tensors of the targets' `Tiny` module as a Hugging Face checkpoint names them.
    let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let dense_w = f32s(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let dense_b = f32s(&[0.5, -0.5]);
    let norm_w = f32s(&[2.0, 3.0]);
    let norm_b = f32s(&[0.25, 0.75]);
    let ids: Vec<u8> = (0i64..4).flat_map(|x| x.to_le_bytes()).collect();
    let tensors = [
        (
            "dense.weight",
            TensorView::new(Dtype::F32, vec![2, 3], &dense_w).unwrap(),
        ),
        (
            "dense.bias",
            TensorView::new(Dtype::F32, vec![2], &dense_b).unwrap(),
        ),
        (
            "LayerNorm.weight",
            TensorView::new(Dtype::F32, vec![2], &norm_w).unwrap(),
        ),
        (
            "LayerNorm.bias",
            TensorView::new(Dtype::F32, vec![2], &norm_b).unwrap(),
        ),
        (
            "position_ids",
            TensorView::new(Dtype::I64, vec![1, 4], &ids).unwrap(),
        ),
    ];
    let bytes = safetensors::serialize(tensors, None).unwrap();
    write(root, "safetensors/tiny.safetensors", &bytes);

    let path = scratch("model.safetensors");
    model::ModelConfig::tiny()
        .init(&Device::flex())
        .save_weights(&path)
        .unwrap();
    write(
        root,
        "safetensors/reward-model.safetensors",
        &std::fs::read(&path).unwrap(),
    );
}

fn tokenizer(root: &Path) {
    let prompts = [
        "a photo of an astronaut riding a horse",
        "a red cube on a blue sphere",
        "Café in Zürich, 8k",
    ];
    let config = model::TokenizerConfig::new()
        .with_vocab_size(64)
        .with_max_len(8);
    let tokenizer = model::PromptTokenizer::train(&prompts, &config).unwrap();
    let path = scratch("tokenizer.json");
    tokenizer.save(&path).unwrap();
    write(
        root,
        "tokenizer_json/tokenizer.json",
        &std::fs::read(&path).unwrap(),
    );
    // Prompts that reach each step of OpenCLIP's cleaning: entities, curly quotes, ligatures,
    // full-width forms, terminal colours, C1 and other control characters.
    let texts: [(&str, &str); 4] = [
        (
            "entities.txt",
            "fish &amp; chips &amp;amp; &#8217;s &#x41; &#150; &lt;3 &hellip;",
        ),
        (
            "quotes.txt",
            "\u{201C}Hello,\u{201D} it\u{2019}s \u{2018}fine\u{2019}",
        ),
        (
            "widths.txt",
            "\u{FB01}ne \u{FF21}\u{FF22}\u{3000}caf\u{0096}e",
        ),
        (
            "controls.txt",
            "\x1b[31mred\x1b[0m\u{FEFF} tab\there <b>bold</b>",
        ),
    ];
    for (name, text) in texts {
        write(root, &format!("open_clip_text/{name}"), text.as_bytes());
    }
}

fn images(root: &Path) {
    let rgb = image::RgbImage::from_fn(9, 7, |x, y| {
        image::Rgb([(x * 28) as u8, (y * 36) as u8, ((x + y) * 16) as u8])
    });
    let cases: [(&str, DynamicImage, ImageFormat); 6] = [
        (
            "rgb.png",
            DynamicImage::ImageRgb8(rgb.clone()),
            ImageFormat::Png,
        ),
        (
            "rgba.png",
            DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(rgb.clone()).to_rgba8()),
            ImageFormat::Png,
        ),
        (
            "grey16.png",
            DynamicImage::ImageLuma16(DynamicImage::ImageRgb8(rgb.clone()).to_luma16()),
            ImageFormat::Png,
        ),
        (
            "rgb.jpg",
            DynamicImage::ImageRgb8(rgb.clone()),
            ImageFormat::Jpeg,
        ),
        (
            "grey.jpg",
            DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(rgb.clone()).to_luma8()),
            ImageFormat::Jpeg,
        ),
        ("rgb.webp", DynamicImage::ImageRgb8(rgb), ImageFormat::WebP),
    ];
    for (name, image, format) in cases {
        let mut bytes = std::io::Cursor::new(Vec::new());
        image.write_to(&mut bytes, format).unwrap();
        write(root, &format!("image/{name}"), &bytes.into_inner());
    }
}

fn manifest(root: &Path) {
    // The files the manifest target puts beside its input.
    let mut m = integrity::Manifest::new("run");
    m.add_bytes("model.safetensors", b"weights");
    m.add_bytes("checkpoint/model-1.bpk", b"checkpoint");
    let dir = scratch("manifest");
    std::fs::create_dir_all(&dir).unwrap();
    m.write(&dir).unwrap();
    let bytes = std::fs::read(dir.join(integrity::MANIFEST_FILE)).unwrap();
    write(root, "manifest/manifest.json", &bytes);
}
