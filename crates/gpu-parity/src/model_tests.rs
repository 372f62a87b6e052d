//! The reward model on the device under test against the CPU: forward, the losses, backward and
//! one optimiser step, from the same weights and inputs.

use burn::module::Module;
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use model::{
    Criterion, LikertLabels, LikertScale, LikertTarget, LossWeights, ModelConfig, Pair, Pairs,
    RewardModel,
};

use crate::{device_under_test, largest_difference, parameters, values};

const BATCH: usize = 6;

/// Pixels, token ids and masks computed from their position, the same on every device.
fn inputs(cfg: &ModelConfig, device: &Device) -> (Tensor<4>, Tensor<2, Int>, Tensor<2, Int>) {
    let s = cfg.image_size;
    let pixels: Vec<f32> = (0..BATCH * 3 * s * s)
        .map(|i| ((i as f32) * 0.37).sin())
        .collect();
    let l = cfg.max_text_len;
    let (mut ids, mut mask) = (Vec::new(), Vec::new());
    for i in 0..BATCH {
        let len = 2 + i % (l - 1);
        for j in 0..l {
            ids.push(if j < len {
                (4 + (i * 7 + j * 3) % (cfg.vocab_size - 4)) as i64
            } else {
                0
            });
            mask.push(i64::from(j < len));
        }
    }
    (
        Tensor::from_data(TensorData::new(pixels, [BATCH, 3, s, s]), device),
        Tensor::from_data(TensorData::new(ids, [BATCH, l]), device),
        Tensor::from_data(TensorData::new(mask, [BATCH, l]), device),
    )
}

/// Rankings for the overall head and ratings for two Likert heads, some missing (masked).
fn labels(device: &Device) -> (Pairs, LikertLabels) {
    let pairs = Pairs::new(
        &[
            Pair::strict(0, 1),
            Pair::strict(2, 1),
            Pair::tie(3, 4),
            Pair::strict(5, 0),
        ],
        device,
    );
    let mut labels = LikertLabels::default();
    labels.insert(
        Criterion::Alignment,
        LikertTarget::new(
            &[Some(7.0), None, Some(2.0), Some(4.0), None, Some(1.0)],
            device,
        ),
    );
    labels.insert(
        Criterion::Fidelity,
        LikertTarget::new(&[None, Some(3.0), Some(6.0), None, Some(5.0), None], device),
    );
    (pairs, labels)
}

struct Step {
    /// Every head's scores, head after head.
    scores: Vec<f32>,
    /// Each head's loss and the weighted total.
    losses: Vec<f32>,
    /// The parameters after one SGD step with learning rate 1: the weights minus the gradient.
    after: Vec<f32>,
}

fn step(model: RewardModel, cfg: &ModelConfig, device: &Device) -> Step {
    let (images, ids, mask) = inputs(cfg, device);
    let out = model.forward(images, ids, mask);
    let scores = Criterion::ALL
        .iter()
        .filter_map(|&c| out[c].clone())
        .flat_map(values)
        .collect();
    let (pairs, labels) = labels(device);
    let loss = model.loss(&out, &pairs, &labels, &LossWeights::new());
    let mut losses: Vec<f32> = Criterion::ALL
        .iter()
        .filter_map(|&c| loss.per_head[c].clone())
        .flat_map(values)
        .collect();
    losses.extend(values(loss.total.clone()));
    let grads = GradientsParams::from_grads(loss.total.backward(), &model);
    let model = SgdConfig::new().init().step(1.0, model, grads);
    Step {
        scores,
        losses,
        after: parameters(&model),
    }
}

#[test]
fn forward_backward_and_a_step_match_the_cpu() {
    let Some(gpu) = device_under_test() else {
        return;
    };
    let cfg = ModelConfig::tiny().with_likert_scale(LikertScale::new(1, 7));
    let cpu = Device::flex().autodiff();
    let model = {
        let _guard = train::run::INIT_LOCK
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        Device::flex().seed(11);
        cfg.init(&cpu)
    };
    let before = parameters(&model);
    let on_gpu = model.clone().fork(&gpu.clone().autodiff());
    assert_eq!(
        parameters(&on_gpu),
        before,
        "moving the weights changed them"
    );

    let want = step(model, &cfg, &cpu);
    let got = step(on_gpu, &cfg, &gpu.clone().autodiff());
    assert_eq!(
        want.scores.len(),
        BATCH * 4,
        "every head scores every image"
    );
    assert_eq!(
        want.losses.len(),
        4,
        "overall, alignment, fidelity and the total"
    );
    let moved = largest_difference(&before, &want.after);
    let (scores, losses, after) = (
        largest_difference(&want.scores, &got.scores),
        largest_difference(&want.losses, &got.losses),
        largest_difference(&want.after, &got.after),
    );
    println!(
        "reward model on {}, {} parameters: scores {scores:.1e}, losses {losses:.1e}, parameters after one \
         SGD step (lr 1, so the gradients) {after:.1e}; the step moved them by up to {moved:.1e}",
        device::describe(&gpu),
        want.after.len()
    );
    assert!(moved > 1e-3, "the step did not move the weights: {moved}");
    assert!(scores < 1e-5, "scores differ by {scores}");
    assert!(losses < 1e-5, "losses differ by {losses}");
    assert!(after < 1e-4, "gradients differ by {after}");
}
