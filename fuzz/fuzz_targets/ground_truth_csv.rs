#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fuzz_targets::run::ground_truth_csv(data);
});
