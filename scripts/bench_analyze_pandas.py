#!/usr/bin/env python3
"""The statistics of `rewardlab analyze`, written the way a pandas user would (vectorised:
merges and group-bys, no per-row Python loops), timed on a canonical annotations.parquet.

`rewardlab bench analyze` writes its benchmark table, creates a venv, installs pandas, scipy and
pyarrow from PyPI into it and runs this script with the table's path; it prints one JSON object:
{"read_s": .., "stats_s": .., "total_s": .., "read_cpu_s": .., "stats_cpu_s": ..,
"figures": {...}} (wall-clock and CPU seconds;  figures to check that both sides computed the same thing). Usage: python bench_analyze_pandas.py annotations.parquet [resamples]
"""

import json
import sys
import time
import warnings

import numpy as np
import pandas as pd
from scipy import stats  # noqa: F401  (scipy is part of the stack being compared)

warnings.filterwarnings("ignore")  # empty groups give NaN, which is what is meant

CRITERIA = ["overall", "alignment", "fidelity", "harmlessness"]
TERMS = ["highly detailed", "8k", "4k", "trending on artstation", "realistic", "masterpiece",
         "photorealistic", "sharp focus", "intricate", "concept art", "octane render",
         "unreal engine"]
STOP = {"a", "an", "the", "of", "in", "on", "at", "with", "and", "or", "to", "for", "by",
        "from", "is", "are", "be", "its", "it", "as", "into", "this", "that", "his", "her",
        "their", "very"}


def summary(g):
    return g.agg(["count", "mean", "std", "min", lambda s: s.quantile(0.25), "median",
                  lambda s: s.quantile(0.75), "max"])


def main():
    path = sys.argv[1]
    resamples = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    t0, c0 = time.perf_counter(), time.process_time()
    df = pd.read_parquet(path)
    t_read, c_read = time.perf_counter() - t0, time.process_time() - c0
    t1, c1 = time.perf_counter(), time.process_time()
    fig = {}
    df["annotator"] = df["annotator"].fillna("")
    df["category"] = df["category"].fillna("(none)")
    rated = [c for c in CRITERIA if df[c].notna().any()]

    # structure
    per_prompt = df.groupby("prompt_id")["generation_id"].nunique()
    images_per_prompt = per_prompt.value_counts(normalize=True).sort_index()
    tiers = df["rank"].value_counts(normalize=True).sort_index()
    categories = df.groupby("category").agg(prompts=("prompt_id", "nunique"),
                                            generations=("generation_id", "nunique"),
                                            judgments=("prompt_id", "size"))
    prompts = df.drop_duplicates("prompt_id")[["prompt_id", "prompt"]]
    words = prompts["prompt"].str.lower().str.findall(r"[\w'-]+")
    length = pd.DataFrame({"words": words.str.len(), "chars": prompts["prompt"].str.len()}).describe()

    # pairs within rankings
    cols = ["prompt_id", "annotator", "generation_id", "rank"] + rated
    side = df[cols]
    pairs = side.merge(side, on=["prompt_id", "annotator"], suffixes=("", "_r"))
    pairs = pairs[pairs["generation_id"] < pairs["generation_id_r"]]
    v = pd.DataFrame({"prompt_id": pairs["prompt_id"].values, "annotator": pairs["annotator"].values,
                      "g": pairs["generation_id"].values, "g_r": pairs["generation_id_r"].values,
                      "v_rank": np.sign(pairs["rank_r"].values - pairs["rank"].values)})
    for c in rated:
        v["v_" + c] = np.sign(pairs[c].values - pairs[c + "_r"].values)
    ranked = v["v_rank"].notna()
    fig["tie_rate"] = float((v.loc[ranked, "v_rank"] == 0).mean())

    # distributions
    long = df.melt(id_vars=["prompt_id", "category"], value_vars=rated, var_name="criterion",
                   value_name="value").dropna(subset=["value"])
    s_all = summary(long.groupby("criterion")["value"])
    s_cat = summary(long.groupby(["criterion", "category"])["value"])
    long["level"] = np.floor(long["value"] + 0.5).astype(int)
    hist = long.groupby(["criterion", "level"]).size()
    hist = hist / hist.groupby(level=0).transform("sum")
    hist_cat = long.groupby(["criterion", "category", "level"]).size()
    fig["mean_overall"] = float(s_all.loc["overall", "mean"]) if "overall" in rated else None

    # correlations
    sp = df[rated].corr(method="spearman")
    pe = df[rated].corr(method="pearson")
    if len(rated) >= 2:
        fig["spearman_overall_fidelity"] = float(sp.loc["overall", "fidelity"])

    # rank vs rating: per-ranking Kendall tau-b from pair counts
    for c in rated:
        w = v[ranked & v["v_" + c].notna()]
        prod = w["v_rank"] * w["v_" + c]
        g = pd.DataFrame({"prompt_id": w["prompt_id"], "annotator": w["annotator"],
                          "n": 1, "c": prod > 0, "d": prod < 0, "tx": w["v_rank"] == 0,
                          "ty": w["v_" + c] == 0}).groupby(["prompt_id", "annotator"]).sum()
        den = np.sqrt((g["n"] - g["tx"]) * (g["n"] - g["ty"]))
        tau = ((g["c"] - g["d"]) / den).replace([np.inf, -np.inf], np.nan)
        tot = g.sum()
        if c == "overall":
            fig["tau_b_mean_overall"] = float(tau.mean())
            fig["contradiction_overall"] = float(tot["d"] / (tot["n"] - tot["tx"]))

    # agreement, for the rank tiers and each rated criterion (ratings read as tiers)
    for label in ["rank"] + rated:
        vl = "v_" + label
        named = v[(v["annotator"] != "") & v[vl].notna()][["prompt_id", "g", "g_r", "annotator", vl]]
        m = named.merge(named, on=["prompt_id", "g", "g_r"], suffixes=("", "_b"))
        m = m[m["annotator"] < m["annotator_b"]]
        strict = (m[vl] != 0) & (m[vl + "_b"] != 0)
        by_pair = m.assign(agree=(m[vl] == m[vl + "_b"]) & strict, strict=strict).groupby(
            ["annotator", "annotator_b"])[["agree", "strict"]].sum()
        pairwise = by_pair["agree"].sum() / by_pair["strict"].sum()
        # Krippendorff's alpha, ordinal, from the coincidence matrix
        r = df[(df["annotator"] != "") & df[label].notna()]
        nuv = r.groupby(["generation_id", label]).size().rename("n").reset_index()
        nuv["m"] = nuv.groupby("generation_id")["n"].transform("sum")
        nuv = nuv[nuv["m"] >= 2]
        co = nuv.merge(nuv, on="generation_id", suffixes=("", "_k"))
        same = co[label] == co[label + "_k"]
        co["w"] = np.where(same, co["n"] * (co["n"] - 1), co["n"] * co["n_k"]) / (co["m"] - 1)
        o = co.groupby([label, label + "_k"])["w"].sum().unstack(fill_value=0.0)
        nc = o.sum(axis=1).values
        n = nc.sum()
        cum = np.concatenate([[0.0], np.cumsum(nc)])
        k = len(nc)
        lo = np.minimum.outer(np.arange(k), np.arange(k))
        hi = np.maximum.outer(np.arange(k), np.arange(k))
        delta2 = (cum[hi + 1] - cum[lo] - (nc[lo] + nc[hi]) / 2) ** 2
        alpha = 1 - (n - 1) * (o.values * delta2).sum() / (np.outer(nc, nc) * delta2).sum()
        # leave-one-out ceiling: each annotator's strict pairs against the others' mean tier
        tier = r[["generation_id", "annotator"]].assign(
            t=r[label] if label == "rank" else 8.0 - r[label])
        sums = tier.groupby("generation_id")["t"].agg(["sum", "count"])
        lp = named[named[vl] != 0].merge(tier, left_on=["g", "annotator"],
                                          right_on=["generation_id", "annotator"])
        lp = lp.merge(tier, left_on=["g_r", "annotator"], right_on=["generation_id", "annotator"],
                      suffixes=("", "_r"))
        lp = lp.join(sums, on="g").join(sums.add_suffix("_r"), on="g_r")
        lp = lp[(lp["count"] > 1) & (lp["count_r"] > 1)]
        m1 = (lp["sum"] - lp["t"]) / (lp["count"] - 1)
        m2 = (lp["sum_r"] - lp["t_r"]) / (lp["count_r"] - 1)
        right = np.where(lp[vl] > 0, m1 < m2, m2 < m1)
        if label == "rank":
            fig["pairwise_agreement"] = float(pairwise)
            fig["krippendorff_alpha"] = float(alpha)
            fig["loo_ceiling"] = float(right.mean())
        if label == "fidelity":
            fig["loo_ceiling_fidelity"] = float(right.mean())

    # prompt effects: terms and frequent n-grams, with a prompt bootstrap
    tok = pd.DataFrame({"prompt_id": prompts["prompt_id"].values, "w": words.values}).explode("w").dropna()
    tok["stop"] = tok["w"].isin(STOP)
    grams = []
    g1 = tok["w"]
    nxt = [tok.groupby("prompt_id")["w"].shift(-i) for i in (1, 2)]
    nst = [tok.groupby("prompt_id")["stop"].shift(-i) for i in (1, 2)]
    grams.append(pd.DataFrame({"prompt_id": tok["prompt_id"], "ngram": g1, "s0": tok["stop"], "s1": tok["stop"]}))
    grams.append(pd.DataFrame({"prompt_id": tok["prompt_id"], "ngram": g1 + " " + nxt[0], "s0": tok["stop"], "s1": nst[0]}))
    grams.append(pd.DataFrame({"prompt_id": tok["prompt_id"], "ngram": g1 + " " + nxt[0] + " " + nxt[1], "s0": tok["stop"], "s1": nst[1]}))
    grams = pd.concat(grams).dropna(subset=["ngram"]).drop_duplicates(["prompt_id", "ngram"])
    content = grams[(grams["s0"] == False) & (grams["s1"] == False)]  # noqa: E712
    freq = content.groupby("ngram").size()
    freq = freq[(freq >= 5) & (freq < len(prompts))].sort_values(ascending=False)
    top = [g for g in freq.index if g not in TERMS][:10]
    terms = TERMS + top
    pres = grams[grams["ngram"].isin(terms)][["prompt_id", "ngram"]]
    pids = pd.Index(prompts["prompt_id"].values)
    per = long.groupby(["criterion", "prompt_id"])["value"].agg(["sum", "count"])
    effects = {}
    rng = np.random.default_rng(0)
    P = len(pids)
    for c in rated:
        pc = per.loc[c].reindex(pids, fill_value=0.0)
        S, C = pc["sum"].values.astype(float), pc["count"].values.astype(float)
        member = np.zeros((len(terms), P), dtype=np.float32)
        for i, t in enumerate(terms):
            member[i, pids.get_indexer(pres.loc[pres["ngram"] == t, "prompt_id"])] = 1.0
        sw, cw = member @ S, member @ C
        diff = sw / cw - (S.sum() - sw) / (C.sum() - cw)
        boots = []
        for start in range(0, resamples, 100):
            b = min(100, resamples - start)
            w = np.stack([np.bincount(rng.integers(0, P, P), minlength=P) for _ in range(b)]).astype(np.float32)
            ws, wc = w @ S, w @ C
            ts, tc = w @ (member * S).T, w @ (member * C).T
            boots.append(ts / tc - (ws[:, None] - ts) / (wc[:, None] - tc))
        boots = np.concatenate(boots)
        lo_, hi_ = np.nanpercentile(boots, [2.5, 97.5], axis=0)
        effects[c] = pd.DataFrame({"term": terms, "difference": diff, "ci_low": lo_, "ci_high": hi_})
    if "fidelity" in effects:
        e = effects["fidelity"].set_index("term")
        fig["effect_8k_fidelity"] = float(e.loc["8k", "difference"])
    t_stats, c_stats = time.perf_counter() - t1, time.process_time() - c1
    _ = (images_per_prompt, tiers, categories, length, s_cat, hist, hist_cat, pe)
    print(json.dumps({"read_s": t_read, "stats_s": t_stats, "total_s": t_read + t_stats,
                      "read_cpu_s": c_read, "stats_cpu_s": c_stats,
                      "pandas": pd.__version__, "numpy": np.__version__, "figures": fig}))


if __name__ == "__main__":
    main()
