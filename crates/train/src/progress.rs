//! Progress output: a burn-train `MetricsRenderer` that prints one readable line per epoch and
//! appends the epoch's metrics to `metrics.csv`.
//!
//! burn's default renderer draws a full-screen dashboard in a terminal and, when stdout is not a
//! terminal (logs, CI), prints a debug line per batch and no epoch metrics at all. This one only
//! keeps the epoch-level ("final") value of every metric, and in a terminal also shows a batch
//! counter on a single line (rewritten with `\r`, on stderr so that stdout stays clean).

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use burn::train::LearnerSummary;
use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};

/// The epoch-level metrics of one epoch, by metric name (`loss`, `accuracy`, `rho_fidelity`...).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train: BTreeMap<String, f64>,
    pub valid: BTreeMap<String, f64>,
}

/// Metric columns of `metrics.csv` (without split prefix), in order.
pub type Columns = Vec<String>;

/// The `metrics.csv` header for `columns`.
pub fn csv_header(columns: &[String]) -> String {
    let mut h = vec!["epoch".to_string()];
    for split in ["train", "valid"] {
        h.extend(columns.iter().map(|c| format!("{split}_{c}")));
    }
    h.join(",")
}

/// Reads `metrics.csv` back into records (unknown or empty cells are skipped).
pub fn read_csv(text: &str) -> Vec<EpochRecord> {
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let names: Vec<&str> = header.split(',').collect();
    let mut out = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let mut rec = EpochRecord::default();
        for (name, cell) in names.iter().zip(line.split(',')) {
            let Ok(v) = cell.trim().parse::<f64>() else {
                continue;
            };
            if *name == "epoch" {
                rec.epoch = v as usize;
            } else if let Some(m) = name.strip_prefix("train_") {
                rec.train.insert(m.to_string(), v);
            } else if let Some(m) = name.strip_prefix("valid_") {
                rec.valid.insert(m.to_string(), v);
            }
        }
        out.push(rec);
    }
    out
}

/// One line of text for an epoch: `epoch 3/12  train loss 0.612 acc 0.701 | valid ...`.
pub fn epoch_line(rec: &EpochRecord, total_epochs: usize) -> String {
    let part = |m: &BTreeMap<String, f64>| {
        let mut s = String::new();
        let mut push = |label: &str, key: &str| {
            if let Some(v) = m.get(key) {
                s.push_str(&format!(" {label} {v:.3}"));
            }
        };
        push("loss", "loss");
        push("acc", "accuracy");
        push("align rho", "rho_alignment");
        push("fid rho", "rho_fidelity");
        push("harm rho", "rho_harmlessness");
        s
    };
    format!(
        "epoch {}/{}  train{} | valid{}",
        rec.epoch,
        total_epochs,
        part(&rec.train),
        part(&rec.valid)
    )
}

/// The renderer; see the module docs.
pub struct EpochRenderer {
    names: HashMap<MetricId, String>,
    current: EpochRecord,
    split: String,
    split_total: usize,
    total_epochs: usize,
    columns: Columns,
    csv: Option<PathBuf>,
    history: Arc<Mutex<Vec<EpochRecord>>>,
    print: bool,
    terminal: bool,
}

impl EpochRenderer {
    /// Prints epoch lines when `print`; appends to `csv` when given; pushes every epoch's record
    /// into `history`.
    pub fn new(
        columns: Columns,
        csv: Option<PathBuf>,
        history: Arc<Mutex<Vec<EpochRecord>>>,
        print: bool,
    ) -> Self {
        Self {
            names: HashMap::new(),
            current: EpochRecord::default(),
            split: String::new(),
            split_total: 0,
            total_epochs: 0,
            columns,
            csv,
            history,
            print,
            terminal: print && std::io::stderr().is_terminal(),
        }
    }

    fn record(&mut self, state: MetricState, train: bool) {
        // Only the epoch-level value is kept: per-batch entries are running aggregates.
        if let MetricState::Numeric(entry, Some(NumericEntry::Final(v))) = state
            && let Some(name) = self.names.get(&entry.metric_id)
        {
            let key = if name == "Loss" {
                "loss".to_string()
            } else {
                name.clone()
            };
            let map = if train {
                &mut self.current.train
            } else {
                &mut self.current.valid
            };
            map.insert(key, v);
        }
    }

    fn append_csv(&self, rec: &EpochRecord) {
        let Some(path) = &self.csv else { return };
        let new = std::fs::metadata(path)
            .map(|m| m.len() == 0)
            .unwrap_or(true);
        let mut line = String::new();
        if new {
            line.push_str(&csv_header(&self.columns));
            line.push('\n');
        }
        let mut cells = vec![rec.epoch.to_string()];
        for m in [&rec.train, &rec.valid] {
            cells.extend(
                self.columns
                    .iter()
                    .map(|c| m.get(c).map(|v| v.to_string()).unwrap_or_default()),
            );
        }
        line.push_str(&cells.join(","));
        line.push('\n');
        // A failure to write the log must not kill a training run; it is reported once per epoch.
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = written {
            eprintln!("warning: cannot append to {}: {e}", path.display());
        }
    }
}

impl TrainingProgressLogger for EpochRenderer {
    fn start(
        &mut self,
        total_epochs: usize,
        _starting_epoch: usize,
        _total_items: Option<usize>,
        _label: Option<&str>,
    ) {
        self.total_epochs = total_epochs;
    }
    fn update_epoch(&mut self, epoch: usize) {
        let mut rec = std::mem::take(&mut self.current);
        rec.epoch = epoch;
        if self.print {
            if self.terminal {
                eprint!("\r\x1b[2K");
            }
            println!("{}", epoch_line(&rec, self.total_epochs));
        }
        self.append_csv(&rec);
        if let Ok(mut h) = self.history.lock() {
            h.push(rec);
        }
    }
    fn start_split(&mut self, split: &str, total_items: usize) {
        self.split = split.to_string();
        self.split_total = total_items;
    }
    fn update_split(&mut self, items_processed: usize) {
        if self.terminal {
            eprint!(
                "\r\x1b[2K  {} batch {}/{}",
                self.split, items_processed, self.split_total
            );
            let _ = std::io::stderr().flush();
        }
    }
    fn end_split(&mut self) {}
    fn end(&mut self) {
        if self.terminal {
            eprint!("\r\x1b[2K");
        }
    }
    fn log_event_training(&mut self, _event: String) {}
}

impl EvaluationProgressLogger for EpochRenderer {
    fn start_global_progress(&mut self, _total_tests: usize) {}
    fn start_test(&mut self, _name: &str, _total_items: usize) {}
    fn update_test_progress(&mut self, _items_processed: usize) {}
    fn end_test(&mut self) {}
    fn end_global_progress(&mut self) {}
    fn log_event_evaluation(&mut self, _event: String) {}
}

impl MetricsRendererTraining for EpochRenderer {
    fn update_train(&mut self, state: MetricState) {
        self.record(state, true);
    }
    fn update_valid(&mut self, state: MetricState) {
        self.record(state, false);
    }
    fn on_train_end(
        &mut self,
        _summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        Ok(())
    }
}

impl MetricsRendererEvaluation for EpochRenderer {
    fn update_test(&mut self, _name: EvaluationName, _state: MetricState) {}
    fn on_test_end(
        &mut self,
        _summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        Ok(())
    }
}

impl MetricsRenderer for EpochRenderer {
    fn manual_close(&mut self) {}
    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names
            .insert(definition.metric_id, definition.name.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trip_and_line() {
        let cols: Columns = vec!["loss".into(), "accuracy".into()];
        let mut rec = EpochRecord {
            epoch: 2,
            ..Default::default()
        };
        rec.train.insert("loss".into(), 0.5);
        rec.valid.insert("accuracy".into(), 0.75);
        let text = format!("{}\n2,0.5,,,0.75\n", csv_header(&cols));
        assert_eq!(read_csv(&text), vec![rec.clone()]);
        assert_eq!(
            epoch_line(&rec, 12),
            "epoch 2/12  train loss 0.500 | valid acc 0.750"
        );
    }
}
