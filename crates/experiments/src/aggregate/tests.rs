use super::*;
use crate::figures::MAIN_METRIC;

/// A finished cell whose figure is `value` on all prompts and `value + shift[r]` on draw r.
fn finished(study: &Study, i: usize, value: f64, shifts: &[f64]) -> Finished {
    let cell = study.cells[i].clone();
    Finished {
        record: CellRecord {
            id: cell.id.clone(),
            group: cell.group.clone(),
            seed: cell.seed,
            labels: study.labels(&cell),
            dataset: "world".into(),
            train_seconds: 1.0,
            eval_seconds: 0.5,
            epochs: 2,
            test_prompts: 10,
            pairwise_accuracy: Some(value),
            pairwise_accuracy_ci95: None,
        },
        figures: vec![CellFigure {
            metric: MAIN_METRIC.into(),
            value: Some(value),
            resamples: shifts.iter().map(|s| Some(value + s)).collect(),
        }],
        cell,
    }
}

#[test]
fn means_stds_intervals_and_differences() {
    let study = Study::from_toml_str(
        "[ablation]\nseeds = [0, 1, 2]\nresamples = 50\n[[ablation.axes]]\nkey = \"model.fusion\"\nvalues = [\"cross_attention\", \"concat\"]\n",
        Path::new("s.toml"),
    )
    .unwrap();
    let shifts: Vec<f64> = (0..50).map(|r| (r as f64 - 24.5) / 1000.0).collect();
    let values = [0.60, 0.62, 0.64, 0.70, 0.70, 0.70];
    let cells: Vec<Finished> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| finished(&study, i, v, &shifts))
        .collect();
    let out = std::env::temp_dir().join(format!("ablate-agg-{}", std::process::id()));
    let r = aggregate(&study, &cells, &out).unwrap();
    let a = r.group("fusion=cross_attention", MAIN_METRIC).unwrap();
    assert!((a.mean.unwrap() - 0.62).abs() < 1e-12);
    assert!((a.std.unwrap() - 0.02).abs() < 1e-12);
    let [lo, hi] = a.ci95.unwrap();
    assert!(lo < 0.62 && 0.62 < hi && lo >= 0.60 - 0.025 && hi <= 0.64 + 0.025);
    // identical seeds: the interval is the prompt bootstrap alone
    let b = r.group("fusion=concat", MAIN_METRIC).unwrap();
    assert_eq!(b.std, Some(0.0));
    let want = percentile_ci(shifts.iter().map(|s| Some(0.70 + s))).unwrap();
    let got = b.ci95.unwrap();
    assert!((got[0] - want[0]).abs() < 1e-12 && (got[1] - want[1]).abs() < 1e-12);
    // the difference is paired on prompt draws: the shared shift cancels
    let c = &r.contrasts[0];
    assert!((c.diff - 0.08).abs() < 1e-12);
    let [lo, hi] = c.ci95.unwrap();
    assert!(lo >= 0.06 - 1e-12 && hi <= 0.10 + 1e-12 && lo < 0.08 && 0.08 < hi);

    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    assert!(
        md.contains("| cross_attention | **0.620** | 0.020 |"),
        "{md}"
    );
    assert!(
        md.contains("| fusion | concat vs cross_attention | - | **+0.080** |"),
        "{md}"
    );
    let df = ParquetReader::new(std::fs::File::open(out.join("results.parquet")).unwrap())
        .finish()
        .unwrap();
    assert_eq!(df.height(), 2);
    for c in [
        "fusion",
        "fusion_level",
        "metric",
        "seeds",
        "mean",
        "std",
        "ci_lo",
        "ci_hi",
    ] {
        assert!(df.column(c).is_ok(), "results.parquet lacks {c}");
    }
    assert!(out.join("overall-pairwise-accuracy-by-fusion.png").exists());
    std::fs::remove_dir_all(&out).unwrap();
}
