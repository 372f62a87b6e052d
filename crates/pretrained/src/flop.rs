//! Floating-point operation counts of the encoders, for a benchmark's share of the machine's peak.

/// Floating-point operations (two per multiply-add) of one sequence of `tokens` through `layers`
/// transformer encoder layers of `width` and feed-forward width `ffn`: per layer the four
/// attention projections (`8 T d^2`), the two feed-forward products (`4 T d ffn`) and the two
/// attention products (`4 T^2 d`). Norms, softmax and activations (`O(T d)`) are not counted, as
/// FLOP counts of transformers usually do not; they add well under 1% here.
pub fn encoder_layers_flop(tokens: usize, width: usize, ffn: usize, layers: usize) -> f64 {
    let (t, d, f) = (tokens as f64, width as f64, ffn as f64);
    layers as f64 * (8.0 * t * d * d + 4.0 * t * d * f + 4.0 * t * t * d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// all-MiniLM-L6-v2 (6 layers of 384, feed-forward 1536) at 35 tokens, counted by hand.
    #[test]
    fn encoder_layers_count_by_hand() {
        // 6 x (8 x 35 x 384^2 + 4 x 35 x 384 x 1536 + 4 x 35^2 x 384)
        assert_eq!(encoder_layers_flop(35, 384, 1536, 6), 754_467_840.0);
    }

    /// ImageReward-v1.0 at its 35-token prompt: the image encoder is timm's ViT-L/16 at 224 px
    /// (61.6 GMACs as timm lists it), the text encoder with its cross-attention 7.34 GMACs.
    #[test]
    fn flop_per_image_counts_both_encoders() {
        let flop = crate::imagereward::ImageRewardConfig::v1().flop_per_image(35);
        assert!((flop / 1e9 - 137.78).abs() < 0.01, "{flop}");
        let mut no_text = crate::imagereward::ImageRewardConfig::v1();
        no_text.med.num_hidden_layers = 0;
        let vision_and_head = no_text.flop_per_image(35);
        assert!(
            (vision_and_head / 2e9 - 61.55).abs() < 0.01,
            "{vision_and_head}"
        );
    }
}
