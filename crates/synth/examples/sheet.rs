//! Writes a contact sheet of a world's first prompts (one row per prompt, images scaled 3x) and
//! prints each prompt with its images' truth: for eyeballing that errors and defects show.
//! `cargo run --release -p rewardlab-synth --example sheet -- [prompts] [seed] [out.png]`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().map(|s| s.parse()).transpose()?.unwrap_or(12);
    let seed: u64 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(0);
    let out = args.get(2).cloned().unwrap_or_else(|| "sheet.png".into());
    let world = synth::generate(&synth::WorldConfig::small(n, seed));
    let size = world.config.image_size;
    let scale = 3;
    let cell = size * scale + 4;
    let mut sheet =
        image::RgbImage::from_pixel(cell * 9, cell * n as u32, image::Rgb([255, 0, 255]));
    for (i, g) in world.generations.iter().enumerate() {
        let col =
            g.id.rsplit("-g")
                .next()
                .and_then(|k| k.parse::<u32>().ok())
                .unwrap_or(1)
                - 1;
        let img = world.image(i);
        for y in 0..size * scale {
            for x in 0..size * scale {
                sheet.put_pixel(
                    col * cell + x,
                    g.prompt as u32 * cell + y,
                    *img.get_pixel(x / scale, y / scale),
                );
            }
        }
        let t = &world.truth[i];
        if col == 0 {
            println!(
                "{} {}",
                world.prompts[g.prompt].id, world.prompts[g.prompt].text
            );
        }
        let ranks: Vec<String> = world
            .rows
            .iter()
            .filter(|r| r.generation_id == g.id)
            .map(|r| {
                format!(
                    "rank {} ratings {:?}",
                    r.rank.unwrap_or(0),
                    r.ratings.into_array().map(|v| v.unwrap_or(0.0) as u8)
                )
            })
            .collect();
        println!(
            "  {} {} ov {:.2} al {:.2} fi {:.2} ha {:.2} ae {:.2} {:?} {:?} | {}",
            g.id,
            t.generator,
            t.overall,
            t.alignment,
            t.fidelity,
            t.harmlessness,
            t.aesthetics,
            t.errors,
            g.defects,
            ranks.join("; ")
        );
    }
    sheet.save(&out)?;
    Ok(())
}
