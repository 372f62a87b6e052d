//! Plain-Rust statistics shared by training, evaluation and the synthetic world's oracle:
//! ranks with ties averaged, Spearman and Pearson correlation, and pairwise preference accuracy
//! under ImageReward's protocol. No tensors and no data frames, so every crate can use them.

/// Ranks 1..n with tied values given the average of their ranks (scipy's `rankdata`, "average").
/// NaN values must be filtered out by the caller.
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = avg;
        }
        i = j + 1;
    }
    ranks
}

/// Pearson correlation; `None` when fewer than two points or either side is constant.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    assert_eq!(x.len(), y.len(), "pearson: lengths differ");
    let n = x.len() as f64;
    if x.len() < 2 {
        return None;
    }
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// Spearman's rho: Pearson correlation of the average ranks (scipy's `spearmanr`).
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    pearson(&average_ranks(x), &average_ranks(y))
}

/// Pairwise preference accuracy, ImageReward protocol: over strict pairs `(better, worse)` given
/// as indices into `scores`, pooled; a predicted tie (equal scores) counts as wrong. `None` when
/// there is no pair.
pub fn pairwise_accuracy(scores: &[f64], strict_pairs: &[(usize, usize)]) -> Option<f64> {
    if strict_pairs.is_empty() {
        return None;
    }
    let right = strict_pairs
        .iter()
        .filter(|&&(b, w)| scores[b] > scores[w])
        .count();
    Some(right as f64 / strict_pairs.len() as f64)
}

/// The share of `(higher, lower)` index pairs in which `values[higher] > values[lower]`, ties
/// counting half: an AUC over given pairs (unlike [`pairwise_accuracy`], where a tie is wrong),
/// fair to tied values such as ratings. `None` without pairs.
pub fn pair_auc(values: &[f64], pairs: &[(usize, usize)]) -> Option<f64> {
    if pairs.is_empty() {
        return None;
    }
    let won: f64 = pairs
        .iter()
        .map(|&(c, f)| match values[c].total_cmp(&values[f]) {
            std::cmp::Ordering::Greater => 1.0,
            std::cmp::Ordering::Equal => 0.5,
            std::cmp::Ordering::Less => 0.0,
        })
        .sum();
    Some(won / pairs.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn pair_auc_counts_ties_half() {
        assert_eq!(pair_auc(&[1.0, 0.0, 1.0], &[(0, 1), (0, 2)]), Some(0.75));
        assert_eq!(pair_auc(&[1.0], &[]), None);
    }

    #[test]
    fn ranks_average_ties() {
        assert_eq!(
            average_ranks(&[10.0, 20.0, 10.0, 30.0]),
            vec![1.5, 3.0, 1.5, 4.0]
        );
    }

    #[test]
    fn correlations_match_scipy() {
        // scipy.stats.spearmanr([1,2,3,4,5],[5,6,7,8,7]) = 0.8207826816681233
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [5.0, 6.0, 7.0, 8.0, 7.0];
        assert!(close(spearman(&x, &y).unwrap(), 0.8207826816681233));
        // scipy.stats.pearsonr(x, y)[0] = 0.8320502943378437
        assert!(close(pearson(&x, &y).unwrap(), 0.8320502943378437));
        assert_eq!(pearson(&x, &[1.0; 5]), None);
        assert!(close(
            spearman(&x, &[5.0, 4.0, 3.0, 2.0, 1.0]).unwrap(),
            -1.0
        ));
    }

    #[test]
    fn pairwise_accuracy_counts_predicted_ties_wrong() {
        let scores = [3.0, 2.0, 2.0, 0.0];
        // (0>1) right, (1 vs 2) predicted tie: wrong, (3<0) wrong, (2>3) right
        assert_eq!(
            pairwise_accuracy(&scores, &[(0, 1), (1, 2), (3, 0), (2, 3)]),
            Some(0.5)
        );
        assert_eq!(pairwise_accuracy(&scores, &[]), None);
    }
}
