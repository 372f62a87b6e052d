//! Generates a world (default configuration unless a prompt count and seed are given), writes it
//! to a folder and prints the time each step took and the summary: a quick look and a timing
//! check, `cargo run --release -p rewardlab-synth --example world -- [prompts] [seed] [dir]`.

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut cfg = synth::WorldConfig::default();
    if let Some(p) = args.first() {
        cfg.prompts = p.parse()?;
    }
    if let Some(s) = args.get(1) {
        cfg.seed = s.parse()?;
    }
    let dir = std::path::PathBuf::from(args.get(2).cloned().unwrap_or_else(|| {
        std::env::temp_dir()
            .join(format!("synth-world-{}", cfg.seed))
            .to_string_lossy()
            .into_owned()
    }));
    let t0 = Instant::now();
    let world = synth::generate(&cfg);
    let t1 = Instant::now();
    world.write_files(&dir)?;
    let t2 = Instant::now();
    eprintln!(
        "generate {:.2} s, write {:.2} s, total {:.2} s -> {}",
        (t1 - t0).as_secs_f64(),
        (t2 - t1).as_secs_f64(),
        (t2 - t0).as_secs_f64(),
        dir.display()
    );
    println!("{}", serde_json::to_string_pretty(&world.summary)?);
    Ok(())
}
