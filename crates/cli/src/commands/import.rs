//! `rewardlab import FORMAT SRC DST`: a source in a known format -> a canonical dataset folder.

use std::path::PathBuf;
use std::process::ExitCode;

use annotations::validate::{Checks, quarantine, validate};
use annotations::{Dataset, Scale, formats};
use anyhow::{Context, Result, bail};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// ImageReward's data/test.json (id, prompt, generations, ranking).
    ImagerewardTest,
    /// ImageRewardDB as released on Hugging Face: a per-split JSON or metadata Parquet file.
    Imagerewarddb,
    /// HPD v2 style multi-annotator rankings (annotations.json with annotator_ranks).
    Hpd,
    /// HPDv2's test.json as released (prompt, image_path, rank, raw_annotations); images in test/.
    Hpdv2Test,
    /// HPDv2's train.json as released (prompt, file_path, human_preference); images in train/.
    Hpdv2Train,
    /// Pick-a-Pic v1/v2 Parquet as released (caption, label_0/label_1, user_id, ranking_id, and
    /// jpg_0/jpg_1 where the variant has images: written into DST/images/).
    Pickapic,
    /// TIFA human annotations (human_annotations_with_scores.json, 1..5 alignment ratings).
    Tifa,
    /// Any CSV / TSV / JSONL / JSON / Parquet table, with a column mapping (--mapping, --map).
    Table,
}

#[derive(clap::Args)]
pub struct Args {
    format: Format,
    /// Source file.
    src: PathBuf,
    /// Destination folder for the canonical dataset.
    dst: PathBuf,
    /// For `table`: a dataset.toml whose [columns] table maps canonical fields to source columns.
    #[arg(long)]
    mapping: Option<PathBuf>,
    /// For `table`: field=column pairs, e.g. --map prompt=caption --map overall=score.
    #[arg(long = "map", value_name = "FIELD=COLUMN")]
    map: Vec<String>,
    /// For `table`: the rating scale as MIN..MAX (default 1..7, or the mapping file's).
    #[arg(long)]
    scale: Option<Scale>,
    /// Dataset name written to dataset.toml.
    #[arg(long)]
    name: Option<String>,
    /// Write the valid rows and put the offending ones, with their reasons, in quarantine.csv.
    #[arg(long)]
    skip_invalid: bool,
    /// Do not open the images while validating.
    #[arg(long)]
    no_images: bool,
    /// Overwrite a non-empty destination folder.
    #[arg(long)]
    force: bool,
    /// Print the resulting statistics as JSON.
    #[arg(long)]
    json: bool,
}

/// The source, read; images held inside it (Pick-a-Pic's) are written into `building`, the
/// destination folder being built.
fn read(args: &Args, building: &std::path::Path) -> Result<Dataset> {
    Ok(match args.format {
        Format::ImagerewardTest => formats::imagereward_test::read(&args.src)?,
        Format::Hpd => formats::hpd::read(&args.src)?,
        Format::Hpdv2Test => formats::hpdv2::read_test(&args.src)?,
        Format::Hpdv2Train => formats::hpdv2::read_train(&args.src)?,
        Format::Tifa => formats::tifa::read(&args.src)?,
        Format::Imagerewarddb => tables::imagerewarddb(&args.src)?,
        Format::Pickapic => tables::pickapic(&args.src, Some(building))?,
        Format::Table => {
            let mapping = match &args.mapping {
                Some(p) => tables::Mapping::from_toml(p)?,
                None => {
                    let stem = args
                        .src
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    tables::Mapping {
                        meta: annotations::DatasetMeta::new(stem, "table"),
                    }
                }
            };
            let mut mapping = mapping.with_pairs(&args.map)?;
            if let Some(scale) = args.scale {
                mapping.meta.scale = scale;
            }
            if mapping.meta.columns.is_empty() {
                bail!(
                    "`import table` needs a column mapping: --mapping dataset.toml or --map field=column (at least --map prompt=COLUMN)"
                );
            }
            tables::read_mapped(&args.src, &mapping)?
        }
    })
}

pub fn run(args: Args) -> Result<ExitCode> {
    super::ensure_writable(&args.dst, args.force)?;
    // Built beside the destination and moved there whole: an import killed half-way leaves no
    // dataset folder, and one replaced with --force stays until the new one is complete.
    let staged =
        integrity::StagedFolder::with_force(&args.dst, args.force, &tables::DATASET_ENTRIES)?;
    let mut ds =
        read(&args, staged.path()).with_context(|| format!("reading {}", args.src.display()))?;
    if let Some(name) = &args.name {
        ds.meta.name = name.clone();
    }
    let checks = Checks {
        images: !args.no_images,
    };
    let mut quarantined = Vec::new();
    if args.skip_invalid {
        let (clean, q) = quarantine(ds, checks);
        if clean.rows.is_empty() {
            for q in &q {
                eprintln!(
                    "problem: {}: row {}: {}",
                    args.src.display(),
                    q.row.source_row,
                    q.reasons.join("; ")
                );
            }
            bail!(
                "no row of {} is valid ({} quarantined); nothing was written",
                args.src.display(),
                q.len()
            );
        }
        ds = clean;
        quarantined = q;
    } else {
        let problems = validate(&ds, checks);
        if !problems.is_empty() {
            for p in &problems {
                eprintln!("problem: {p}");
            }
            bail!(
                "{} problem(s) in {}; nothing was written (pass --skip-invalid to quarantine the offending rows)",
                problems.len(),
                args.src.display()
            );
        }
    }
    if ds.meta.images == annotations::ImagesState::Absent {
        eprintln!(
            "note: images are absent: {} is imported as an annotation-only dataset",
            args.src.display()
        );
    }
    let ds = tables::copy_images(&ds, staged.path())?;
    tables::write_dataset(&ds, staged.path())?;
    let q = staged.path().join(tables::QUARANTINE_FILE);
    if !quarantined.is_empty() {
        tables::write_quarantine(&quarantined, &q)?;
        eprintln!(
            "quarantined {} row(s) with their reasons in {}",
            quarantined.len(),
            args.dst.join(tables::QUARANTINE_FILE).display()
        );
    }
    tables::seal_dataset(staged.path())?;
    staged.commit()?;
    let s = annotations::DatasetSummary::of(&ds, &[]);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        super::validate::print_text(&s);
        println!("written to {}", args.dst.display());
    }
    Ok(ExitCode::SUCCESS)
}
