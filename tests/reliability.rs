//! End-to-end tests of what issue 20's three holes were: a truncated checkpoint, corrupted
//! weights, two processes writing one run folder; and of the manifests and `rewardlab verify`
//! that close them. Small synthetic worlds and the smoke config (seconds on 2 cores).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{SMOKE, TINY_CLIP, bin, ok, run, s, stderr, tmp, world};

fn train(world: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "train",
        "--config",
        SMOKE,
        "--dataset",
        s(world),
        "--out",
        s(out),
    ];
    args.extend(extra);
    run(&args)
}

fn resume(world: &Path, out: &Path, epochs: &str) -> std::process::Output {
    run(&[
        "train",
        "--dataset",
        s(world),
        "--out",
        s(out),
        "--resume",
        "--epochs",
        epochs,
    ])
}

fn summary(run: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap()
}

fn verify(path: &Path) -> (i32, String) {
    let o = run(&["verify", s(path)]);
    (
        o.status.code().unwrap(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

#[test]
fn a_truncated_newest_checkpoint_resumes_from_the_intact_one_before_it() {
    let w = world("rel-ckpt-world", "60", "3");
    let r = tmp("rel-ckpt-run");
    let o = train(&w, &r, &["--epochs", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cp = r.join("checkpoint");
    // What a crash or a full disk leaves: the newest model checkpoint cut short.
    let newest = cp.join("model-3.bpk");
    let bytes = std::fs::read(&newest).unwrap();
    std::fs::write(&newest, &bytes[..bytes.len() / 2]).unwrap();
    let (code, out) = verify(&r);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("damaged checkpoint, epoch 3"), "{out}");

    let o = resume(&w, &r, "4");
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("resuming from epoch 2, the newest intact checkpoint"),
        "{err}"
    );
    assert!(cp.join("model-3.bpk.damaged").exists());
    // The resumed run is the run that was never interrupted.
    let straight = tmp("rel-ckpt-straight");
    let o = train(&w, &straight, &["--epochs", "4"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(summary(&r)["heldout"], summary(&straight)["heldout"]);
    assert_eq!(verify(&r).0, 0);

    // No intact checkpoint at all: a clear error, not a panic.
    for e in std::fs::read_dir(&cp).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "bpk") {
            std::fs::write(&p, b"").unwrap();
        }
    }
    let o = resume(&w, &r, "5");
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("no intact checkpoint to resume from"), "{err}");
}

#[test]
fn damaged_weights_are_refused_naming_the_file_and_verify_finds_them() {
    let w = world("rel-weights-world", "60", "3");
    let r = tmp("rel-weights-run");
    let o = train(&w, &r, &["--epochs", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (code, out) = verify(&r);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("run folder") && out.contains("files intact"),
        "{out}"
    );

    let image = std::fs::read_dir(w.join("images"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let score = || {
        run(&[
            "score",
            "--run",
            s(&r),
            "--prompt",
            "a red circle",
            s(&image),
        ])
    };
    let before = score();
    assert!(before.status.success(), "{}", stderr(&before));

    // Exponent bits flipped in the last weights of the file (the heads).
    let weights = r.join("model.safetensors");
    let good = std::fs::read(&weights).unwrap();
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 2] ^= 0x3c;
    std::fs::write(&weights, &bad).unwrap();
    let o = score();
    let err = stderr(&o);
    assert!(
        !o.status.success(),
        "scored damaged weights: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(err.contains("model.safetensors is damaged"), "{err}");
    let (code, out) = verify(&r);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("damaged:") && out.contains("model.safetensors"),
        "{out}"
    );

    std::fs::write(&weights, &good).unwrap();
    assert_eq!(score().stdout, before.stdout);
    // A run written before manifests loads, with a note.
    std::fs::remove_file(r.join("manifest.json")).unwrap();
    let o = score();
    assert!(o.status.success());
    assert!(
        stderr(&o).contains("has no manifest.json"),
        "{}",
        stderr(&o)
    );
    assert_eq!(verify(&r).0, 2);
}

/// Waits until `cond` holds, for at most two minutes.
fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_second_writer_is_refused_and_a_killed_writers_folder_is_taken_back() {
    let w = world("rel-lock-world", "60", "3");
    let r = tmp("rel-lock-run");
    let mut first = bin()
        .args([
            "train",
            "--config",
            SMOKE,
            "--dataset",
            s(&w),
            "--out",
            s(&r),
            "--epochs",
            "40",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lock = r.join(".rewardlab.lock");
    wait_for("the first writer's lock", || {
        std::fs::read_to_string(&lock).is_ok_and(|t| !t.is_empty())
    });
    wait_for("the first checkpoint", || {
        r.join("checkpoint/model-1.bpk.sha256").exists()
    });

    let o = resume(&w, &r, "40");
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("is being written by another rewardlab process")
            && err.contains(&format!("pid {}", first.id())),
        "{err}"
    );
    // --force is refused too, and deletes nothing.
    let o = train(&w, &r, &["--force"]);
    assert!(!o.status.success());
    assert!(r.join("checkpoint/model-1.bpk").exists());

    // SIGKILL: the kernel releases the lock with the process.
    first.kill().unwrap();
    first.wait().unwrap();
    let o = resume(&w, &r, "3");
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("ended without releasing it; the lock is reclaimed"),
        "{err}"
    );
    assert_eq!(verify(&r).0, 0);
}

#[test]
fn datasets_are_written_whole_and_checked_when_read() {
    let w = world("rel-dataset", "60", "3");
    let (code, out) = verify(&w);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("dataset folder"), "{out}");
    // No staging folder is left beside it.
    let parent = w.parent().unwrap();
    let name = w.file_name().unwrap().to_string_lossy().into_owned();
    assert!(!std::fs::read_dir(parent).unwrap().any(|e| {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        n.starts_with(&format!(".{name}")) && n.contains("rewardlab-tmp")
    }));

    // Without --force an existing folder is refused and left as it was.
    let before = std::fs::read(w.join("annotations.parquet")).unwrap();
    let o = run(&["synth", "--prompts", "20", "--seed", "4", "--out", s(&w)]);
    assert!(!o.status.success());
    assert_eq!(
        std::fs::read(w.join("annotations.parquet")).unwrap(),
        before
    );

    let table = w.join("annotations.parquet");
    let mut bytes = before.clone();
    bytes[100] ^= 0xff;
    std::fs::write(&table, &bytes).unwrap();
    let o = run(&["validate", s(&w)]);
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(err.contains("annotations.parquet is damaged"), "{err}");

    // --force replaces it whole.
    ok(&[
        "synth",
        "--prompts",
        "20",
        "--seed",
        "4",
        "--out",
        s(&w),
        "--force",
    ]);
    assert_eq!(verify(&w).0, 0);
}

#[test]
fn verify_refuses_what_is_not_a_folder() {
    let o = run(&["verify", "/no/such/folder"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("/no/such/folder"), "{}", stderr(&o));
}

/// A 1-bit grey PNG of `side` x `side` pixels, all black: about 110 kB for 30,000 x 30,000, which
/// a decoder would expand to 900 MB. Written row by row, never held whole.
fn write_png_bomb(path: &Path, side: u32) {
    use std::io::Write;
    let chunk = |out: &mut Vec<u8>, kind: &[u8], data: &[u8]| {
        out.extend((data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend(kind);
        out.extend(data);
        out.extend(crc.sum().to_be_bytes());
    };
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(side.to_be_bytes());
    ihdr.extend(side.to_be_bytes());
    ihdr.extend([1, 0, 0, 0, 0]); // bit depth 1, greyscale, deflate, no filter, no interlace
    chunk(&mut png, b"IHDR", &ihdr);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let row = vec![0u8; 1 + side.div_ceil(8) as usize];
    for _ in 0..side {
        z.write_all(&row).unwrap();
    }
    chunk(&mut png, b"IDAT", &z.finish().unwrap());
    chunk(&mut png, b"IEND", &[]);
    std::fs::write(path, png).unwrap();
}

#[test]
fn a_decompression_bomb_is_refused_before_decoding() {
    let dir = tmp("rel-bomb");
    std::fs::create_dir_all(&dir).unwrap();
    let bomb = dir.join("bomb.png");
    write_png_bomb(&bomb, 30_000);
    assert!(std::fs::metadata(&bomb).unwrap().len() < 1 << 20);
    let clip = TINY_CLIP;
    let o = run(&[
        "score",
        "--model",
        "clip",
        "--encoder",
        clip,
        "--prompt",
        "a cat",
        s(&bomb),
    ]);
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("bomb.png")
            && err.contains("30000 x 30000 = 900000000 pixels, over the limit"),
        "{err}"
    );

    // In a dataset: validation names the row, and training refuses it before decoding.
    let w = world("rel-bomb-world", "60", "3");
    let victim = std::fs::read_dir(w.join("images"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    write_png_bomb(&victim, 30_000);
    let o = run(&["validate", s(&w)]);
    let err = stderr(&o) + &String::from_utf8_lossy(&o.stdout);
    assert!(!o.status.success());
    assert!(
        err.contains(victim.file_name().unwrap().to_str().unwrap())
            && err.contains("pixels, over the limit"),
        "{err}"
    );
    ok(&["verify", s(&w), "--update"]);
    let o = train(&w, &tmp("rel-bomb-run"), &["--epochs", "1"]);
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("pixels, over the limit"), "{err}");
}
