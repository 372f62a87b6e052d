//! Short training runs on the device under test against the same runs on the CPU: the small
//! encoders trained from scratch, and ImageReward's BLIP backbone with 70% of its layers frozen.

use burn::prelude::*;
use model::Criterion;
use train::{TrainConfig, TrainOptions, TrainReport, train};

use crate::device_under_test;
use crate::fixtures::{tiny_imagereward, tmp};

/// Trains `config` for one epoch on a 40-prompt world on the CPU and on `gpu`, and returns the
/// largest difference of their held-out scores (every image, every head).
fn largest_difference(name: &str, config: &TrainConfig, gpu: &Device) -> f64 {
    let dir = tmp(&format!("{name}-world"));
    let world = synth::generate(&synth::WorldConfig::small(40, 5));
    world.write_files(&dir).unwrap();
    let ds = world.dataset(&dir);
    let runs: Vec<TrainReport> = [Device::flex(), gpu.clone()]
        .iter()
        .enumerate()
        .map(|(k, device)| {
            let opts = TrainOptions {
                out: tmp(&format!("{name}-run-{k}")),
                ..Default::default()
            };
            train(&ds, config, &opts, device).unwrap()
        })
        .collect();
    let (cpu, on_gpu) = (&runs[0].heldout.scores, &runs[1].heldout.scores);
    assert_eq!(cpu.len(), on_gpu.len());
    assert!(!cpu.is_empty());
    let mut largest = 0.0f64;
    for ((g1, a), (g2, b)) in cpu.iter().zip(on_gpu) {
        assert_eq!(g1, g2);
        for c in Criterion::ALL {
            largest = largest.max((a[c].unwrap() - b[c].unwrap()).abs());
        }
    }
    println!(
        "training ({name}), one epoch on {}: {} held-out images x 4 heads, largest difference \
         from the CPU {largest:.1e}",
        device::describe(gpu),
        cpu.len()
    );
    largest
}

/// The GPU code path trains the same model as the CPU from the same seed: fresh weights are
/// drawn on the CPU and moved. One epoch of the smoke config gives held-out scores within 1e-3
/// of the CPU's (lavapipe: a few 1e-4; the rounding of 30 optimiser steps).
#[test]
fn training_on_the_device_matches_the_cpu() {
    let Some(gpu) = device_under_test() else {
        return;
    };
    let mut config = TrainConfig::smoke();
    config.optim.epochs = 1;
    let largest = largest_difference("scratch", &config, &gpu);
    assert!(largest < 1e-3, "{largest}");
}

/// ImageReward's recipe on the device: the BLIP backbone of the tiny ImageReward (made by the
/// official code) with 70% of its layers frozen, the rest trained.
#[test]
fn training_blip_with_frozen_layers_on_the_device_matches_the_cpu() {
    let Some(gpu) = device_under_test() else {
        return;
    };
    let Some(checkpoint) = tiny_imagereward() else {
        return;
    };
    let mut config = TrainConfig::smoke();
    config.optim.epochs = 1;
    config.encoder.kind = Some(model::PretrainedKind::Blip);
    config.encoder.path = Some(checkpoint);
    config.encoder.freeze = 0.7;
    let largest = largest_difference("blip", &config, &gpu);
    assert!(largest < 1e-3, "{largest}");
}
