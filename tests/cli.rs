//! End-to-end tests of the `rewardlab` binary: synth -> validate -> import on small data, and the
//! readers on the real files in `../shared/data` (skipped, with the reason printed, when absent).

use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;
use common::{bin, json, ok, run, s, tmp};

fn shared(relative: &str) -> Option<PathBuf> {
    let base = std::env::var_os("REWARDLAB_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let p = base.join("data").join(relative);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipped: {} is absent", p.display());
        None
    }
}

#[test]
fn synth_validate_import_round_trip() {
    let world = tmp("world");
    ok(&[
        "synth",
        "--out",
        s(&world),
        "--prompts",
        "24",
        "--seed",
        "3",
    ]);
    for f in [
        "dataset.toml",
        "annotations.parquet",
        "ground_truth.csv",
        "world.json",
    ] {
        assert!(world.join(f).is_file(), "{f} missing");
    }
    let v = json(&["validate", s(&world), "--json"]);
    assert_eq!(v["prompts"], 24);
    assert_eq!(v["problems"].as_array().unwrap().len(), 0);
    assert!(v["annotators"].as_u64().unwrap() >= 1);
    let n_gen = v["generations"].as_u64().unwrap();
    assert!((24 * 4..=24 * 9).contains(&n_gen), "{n_gen}");
    for c in ["overall", "alignment", "fidelity", "harmlessness"] {
        assert_eq!(v["ratings"][c].as_u64(), Some(n_gen), "{c}");
    }
    assert!(v["pairs"]["strict"].as_u64().unwrap() > 0);

    // the same seed gives the same files
    let again = tmp("world-again");
    ok(&[
        "synth",
        "--out",
        s(&again),
        "--prompts",
        "24",
        "--seed",
        "3",
    ]);
    for f in ["annotations.parquet", "ground_truth.csv", "dataset.toml"] {
        assert_eq!(
            std::fs::read(world.join(f)).unwrap(),
            std::fs::read(again.join(f)).unwrap(),
            "{f} differs"
        );
    }

    // nothing is overwritten without asking
    let out = run(&["synth", "--out", s(&world), "--prompts", "24"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));

    // the world's own table imports back through a column mapping, images copied, counts equal
    let imported = tmp("world-imported");
    let table = world.join("annotations.parquet");
    let mut args = vec![
        "import",
        "table",
        s(&table),
        s(&imported),
        "--name",
        "reimported",
    ];
    let maps: Vec<String> = [
        "prompt_id",
        "prompt",
        "category",
        "generation_id",
        "image",
        "annotator",
        "rank",
        "overall",
        "alignment",
        "fidelity",
        "harmlessness",
    ]
    .iter()
    .map(|f| format!("{f}={f}"))
    .collect();
    for m in &maps {
        args.extend(["--map", m.as_str()]);
    }
    ok(&args);
    let w = json(&["validate", s(&imported), "--json"]);
    for key in ["prompts", "generations", "annotators", "pairs", "ratings"] {
        assert_eq!(w[key], v[key], "{key} differs after import");
    }
    assert_eq!(w["images"], "present");
    std::fs::remove_dir_all(&imported).unwrap();

    // --list-generations gives the ids that external score files use
    let listed = ok(&["validate", s(&world), "--list-generations"]);
    assert_eq!(listed.lines().next(), Some("generation_id,prompt_id,image"));
    assert_eq!(listed.lines().count() as u64, n_gen + 1);

    // break one image: validate names the file, row and field, and fails
    let first_image = listed
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .nth(2)
        .unwrap()
        .to_string();
    std::fs::write(world.join(&first_image), b"").unwrap();
    let out = run(&["validate", s(&world), "--json"]);
    assert!(!out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = &v["problems"][0];
    assert_eq!(p["field"], "image");
    assert!(p["file"].as_str().unwrap().ends_with("annotations.parquet"));
    assert!(p["row"].as_u64().is_some());
    assert!(p["message"].as_str().unwrap().contains("0 bytes"));
    for d in [world, again] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn import_real_imagereward_test_json() {
    let Some(src) = shared("imagereward-test/test.json") else {
        return;
    };
    let dst = tmp("irtest");
    let out = bin()
        .args(["import", "imagereward-test", s(&src), s(&dst), "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("annotation-only"));
    let v = json(&["validate", s(&dst), "--json"]);
    assert_eq!(
        (v["prompts"].as_u64(), v["generations"].as_u64()),
        (Some(466), Some(2_720))
    );
    assert_eq!(
        (v["pairs"]["strict"].as_u64(), v["pairs"]["ties"].as_u64()),
        (Some(6_399), Some(831))
    );
    assert_eq!(v["images"], "absent");
    std::fs::remove_dir_all(&dst).unwrap();
}

#[test]
fn import_real_hpd_copies_images_and_keeps_every_annotator() {
    let Some(src) = shared("hpd-gallery/annotations.json") else {
        return;
    };
    let dst = tmp("hpd");
    ok(&["import", "hpd", s(&src), s(&dst)]);
    let v = json(&["validate", s(&dst), "--json"]);
    assert_eq!(v["prompts"], 8);
    assert_eq!(v["generations"], 75);
    assert_eq!(v["annotators"], 10);
    assert_eq!(v["pairs"]["ties"], 0);
    assert!(dst.join("images").read_dir().unwrap().count() >= 75);
    std::fs::remove_dir_all(&dst).unwrap();
}

/// The HPDv2 fixtures (`tests/fixtures/hpdv2/make_files.py`) in a folder laid out as HPDv2 is,
/// with a small JPEG for every image they list.
fn hpdv2_folder() -> PathBuf {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/hpdv2");
    let dir = tmp("hpdv2-src");
    for (file, key, images) in [
        ("test.json", "image_path", "test"),
        ("train.json", "file_path", "train"),
    ] {
        std::fs::create_dir_all(dir.join(images)).unwrap();
        std::fs::copy(fixtures.join(file), dir.join(file)).unwrap();
        let entries: Value =
            serde_json::from_slice(&std::fs::read(dir.join(file)).unwrap()).unwrap();
        for (i, entry) in entries.as_array().unwrap().iter().enumerate() {
            let names = entry.get(key).or_else(|| entry.get("image_path")).unwrap();
            for (k, name) in names.as_array().unwrap().iter().enumerate() {
                let shade = (i * 40 + k * 20) as u8;
                image::RgbImage::from_pixel(16, 16, image::Rgb([shade, 100, 200]))
                    .save(dir.join(images).join(name.as_str().unwrap()))
                    .unwrap();
            }
        }
    }
    dir
}

#[test]
fn import_hpdv2_test_and_train_as_released() {
    let src = hpdv2_folder();
    let dst = tmp("hpdv2-test");
    ok(&["import", "hpdv2-test", s(&src.join("test.json")), s(&dst)]);
    let v = json(&["validate", s(&dst), "--json"]);
    // 3 prompts of 10, 9 and 10 images, each ranked by 3 annotators: 3 * (45 + 36 + 45) pairs.
    assert_eq!(v["prompts"], 3);
    assert_eq!(v["generations"], 29);
    assert_eq!(v["annotators"], 3);
    assert_eq!(v["judgments"], 87);
    assert_eq!(v["pairs"]["strict"], 378);
    assert_eq!(v["pairs"]["ties"], 0);
    assert_eq!(v["images"], "present");
    assert_eq!(dst.join("images/test").read_dir().unwrap().count(), 29);

    let dst_train = tmp("hpdv2-train");
    ok(&[
        "import",
        "hpdv2-train",
        s(&src.join("train.json")),
        s(&dst_train),
    ]);
    let v = json(&["validate", s(&dst_train), "--json"]);
    // 6 comparisons, one a tie; the one under `image_path` is read too.
    assert_eq!(v["prompts"], 6);
    assert_eq!(v["generations"], 12);
    assert_eq!(v["pairs"]["strict"], 5);
    assert_eq!(v["pairs"]["ties"], 1);
    for d in [src, dst, dst_train] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn import_pickapic_writes_its_images_and_keeps_ties() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pickapic");
    let dst = tmp("pickapic");
    ok(&[
        "import",
        "pickapic",
        s(&fixtures.join("pickapic_v2-test.parquet")),
        s(&dst),
    ]);
    let v = json(&["validate", s(&dst), "--json"]);
    // 8 comparisons by 3 users: 6 choices, 1 tie, 1 without a label (kept, unranked).
    assert_eq!(v["prompts"], 8);
    assert_eq!(v["generations"], 16);
    assert_eq!(v["annotators"], 3);
    assert_eq!(v["pairs"]["strict"], 6);
    assert_eq!(v["pairs"]["ties"], 1);
    assert_eq!(v["images"], "present");
    // One image was shown in two comparisons: written once.
    assert_eq!(dst.join("images").read_dir().unwrap().count(), 15);

    let bare = tmp("pickapic-no-images");
    ok(&[
        "import",
        "pickapic",
        s(&fixtures.join("pickapic_v2_no_images-test.parquet")),
        s(&bare),
    ]);
    let w = json(&["validate", s(&bare), "--json"]);
    assert_eq!(w["images"], "absent");
    assert_eq!(w["pairs"], v["pairs"]);
    assert!(!bare.join("images").exists());
    for d in [dst, bare] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn import_real_tifa_keeps_its_scale() {
    let Some(src) = shared("tifa/human_annotations_with_scores.json") else {
        return;
    };
    let dst = tmp("tifa");
    ok(&["import", "tifa", s(&src), s(&dst)]);
    let v = json(&["validate", s(&dst), "--json"]);
    assert_eq!(v["scale"], serde_json::json!([1, 5]));
    assert_eq!(v["ratings"]["alignment"], 1_600);
    assert_eq!(v["annotators"], 2);
    std::fs::remove_dir_all(&dst).unwrap();
}

#[test]
fn invalid_table_writes_nothing_or_quarantines() {
    let dir = tmp("table");
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("ratings.csv");
    std::fs::write(
        &csv,
        "caption,id,score\na cat,c1,5\na cat,c2,9\na cat,c3,4\na dog,d1,2\na dog,d2,x\n",
    )
    .unwrap();
    let dst = dir.join("out");
    let args = [
        "import",
        "table",
        s(&csv),
        s(&dst),
        "--map",
        "prompt=caption",
        "--map",
        "generation_id=id",
        "--map",
        "overall=score",
    ];
    let out = run(&args);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("row 2: field `score`") && err.contains("row 5: field `score`"),
        "{err}"
    );
    assert!(!dst.exists(), "nothing is written for invalid input");
    let mut skip = args.to_vec();
    skip.push("--skip-invalid");
    ok(&skip);
    let v = json(&["validate", s(&dst), "--json"]);
    // c2 (9 > 7) and d2 (not a number) go, and d1 is left alone, so the dog prompt goes too
    assert_eq!(v["generations"], 2);
    let q = std::fs::read_to_string(dst.join("quarantine.csv")).unwrap();
    assert_eq!(q.lines().count(), 4, "{q}");
    assert!(
        q.contains("outside the declared scale")
            && q.contains("not a number")
            && q.contains("at least two")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `bench pretrained` without the MiniLM checkpoint stops with a message that says where it looked
/// and how to point it elsewhere (the timed run itself is too slow for a test, and speed is never
/// asserted; the workloads are tested on tiny sizes in `rewardlab_bench::workloads`).
#[test]
fn bench_pretrained_without_minilm_is_a_clear_error() {
    let missing = tmp("bench-pretrained-no-shared");
    let out = bin()
        .args(["bench", "pretrained", "--quick", "--skip-torch"])
        .env("REWARDLAB_SHARED", &missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("all-MiniLM-L6-v2") && err.contains("REWARDLAB_SHARED"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// `bench peak` prints the machine line (CPU model, the CPU's vector set, the matrix kernels that
/// run), the measured roofline, and each product as a share of it; the kernels that run are as
/// wide as the CPU offers (the build has gemm's AVX-512 kernels). Speed is never asserted.
#[test]
fn bench_peak_names_the_machine_and_the_share_of_its_peak() {
    let out = ok(&["bench", "peak", "--quick", "--threads", "1"]);
    assert!(out.contains("machine: "), "{out}");
    assert!(out.contains("matrix kernels gemm"), "{out}");
    assert!(!out.contains("NARROWER"), "{out}");
    assert!(out.contains("float32 FMA peak"), "{out}");
    assert!(out.contains("memory bandwidth"), "{out}");
    assert!(
        out.contains("1024^3") && out.contains("clip_vit_b32_ffn"),
        "{out}"
    );
    assert!(out.contains("% of peak"), "{out}");
    assert!(out.contains("target >= 85%"), "{out}");
    // Every other bench prints the same machine line first.
    let analyze = ok(&[
        "bench",
        "analyze",
        "--judgments",
        "2000",
        "--resamples",
        "5",
        "--repeats",
        "1",
        "--no-pandas",
    ]);
    assert!(analyze.contains("machine: "), "{analyze}");
}

/// `bench analyze` on a small table: the warm-up and median of `--repeats` runs, every section
/// timed, and no pandas (`--no-pandas`); `--repeats 0` is refused before any work. Speed is never
/// asserted.
#[test]
fn bench_analyze_reports_the_median_run_and_its_sections() {
    let out = ok(&[
        "bench",
        "analyze",
        "--judgments",
        "3000",
        "--resamples",
        "20",
        "--repeats",
        "2",
        "--no-pandas",
    ]);
    assert!(out.contains("3000 judgments"), "{out}");
    assert!(out.contains("median of 2 runs after a warm-up"), "{out}");
    for section in [
        "frames",
        "pairs",
        "structure",
        "distributions",
        "relations",
        "agreement",
        "prompt effects",
    ] {
        assert!(out.contains(&format!("{section} ")), "{section}: {out}");
    }
    assert!(out.contains("pandas: skipped (--no-pandas)"), "{out}");
    let refused = run(&["bench", "analyze", "--repeats", "0", "--no-pandas"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--repeats"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// `--device` names where tensors run; a backend this build lacks is refused with the cargo feature
/// to build with, before any work starts, and an unknown name lists the valid ones.
#[test]
fn device_flag_refuses_unknown_and_unbuilt_backends() {
    let out = tmp("device-out");
    let unknown = run(&["train", "--device", "gpu", "--out", s(&out)]);
    assert!(!unknown.status.success());
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(err.contains("gpu") && err.contains("wgpu:N"), "{err}");
    // a build without the wgpu feature (the default) has the CPU only
    if !cfg!(feature = "wgpu") {
        let unbuilt = run(&["--device", "wgpu:cpu", "train", "--out", s(&out)]);
        assert!(!unbuilt.status.success());
        let err = String::from_utf8_lossy(&unbuilt.stderr);
        assert!(err.contains("--features wgpu"), "{err}");
        assert!(!out.exists(), "nothing is written for a refused device");
    }
    // cpu is accepted on any command, before or after the subcommand
    ok(&["validate", "--device", "cpu", "--help"]);
}
