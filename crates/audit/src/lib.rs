//! The sensitivity audit: how a scorer's score moves when its images are changed in ways people
//! do not prefer (saturation and contrast up, sharpening, JPEG at quality 10, a text overlay, a
//! border, a crop that cuts the subject). Reward models used to fine-tune generators are known to
//! be gamed by such changes; the audit measures, per perturbation, the share of images whose
//! score rises, the mean change, and how often the change lifts an image over one the reference
//! (the synthetic world's ground truth, or the people's rankings) prefers, each with a bootstrap
//! interval over prompts.
//!
//! * [`perturb`]: the perturbations, pure functions of the pixels;
//! * [`stats`]: the figures from scores;
//! * [`measure`]: perturbing, scoring, and the figures per perturbation;
//! * [`cache`]: each finished pass's scores, so that an audit resumes where it stopped;
//! * [`report`]: `audit.md` and `per_image.csv`.

pub mod cache;
mod error;
pub mod measure;
pub mod perturb;
pub mod report;
pub mod stats;

pub use cache::PassCache;
pub use error::{AuditError, Result};
pub use measure::{Audit, AuditPlan, AuditRow, ImageChange, Reference, audit};
pub use perturb::Perturbation;
