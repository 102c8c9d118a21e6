//! Load time and per-operation time of a 100,000-concept Japanese master:
//! a generated HOT master of 100,000 HOT13 rows (25,000 HOT9 products of
//! 4 packages each), imported with `japanese::master` and answered through
//! the `Registry` (hash lookups only, whatever the size).
//!
//! `cargo bench -p terminology --bench japanese_master`

use std::fmt::Write;
use std::hint::black_box;
use std::time::{Duration, Instant};

use terminology::japanese::{master, HotLevel, JpSystem};
use terminology::{Registry, ValidateOptions};

const ROWS: usize = 100_000;

/// Row `i`: HOT7 1000000 + i/8, company (i/4) % 2, dispensing 01,
/// logistics i % 4, so every HOT9 has 4 packages.
fn hot13(i: usize) -> String {
    format!(
        "{:07}{:02}01{:02}",
        1_000_000 + i / 8,
        (i / 4) % 2 + 1,
        i % 4 + 1
    )
}

fn csv() -> String {
    let mut s = String::from("基準番号,処方用番号,会社識別用番号,調剤用番号,物流用番号,JANコード,薬価基準収載医薬品コード,個別医薬品コード,レセプト電算処理システムコード(1),レセプト電算処理システムコード(2),告示名称,販売名,レセプト電算処理システム医薬品名,規格単位,包装形態\n");
    for i in 0..ROWS {
        let _ = writeln!(
            s,
            "{},,,,,,1149019F{:04},1149019F{:04},6{:08},,架空成分{},架空錠{}mg「{}」,,{}mg1錠,PTP",
            hot13(i),
            i / 8 % 10_000,
            i / 4 % 10_000,
            i / 4,
            i / 8,
            i / 4,
            i % 2,
            i / 4
        );
    }
    s
}

fn per_op(total: Duration, n: usize) -> String {
    format!("{:.2} µs/op", total.as_secs_f64() * 1e6 / n as f64)
}

fn main() {
    let text = csv();
    let mut registry = Registry::new();
    for level in [HotLevel::Hot13, HotLevel::Hot9, HotLevel::Hot7] {
        let start = Instant::now();
        let cs = master::load_code_system(JpSystem::Hot(level), text.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        let took = start.elapsed();
        println!(
            "{level}: {} concepts from {ROWS} rows ({:.1} MB CSV) loaded and indexed in {took:.2?}",
            cs.len(),
            text.len() as f64 / 1e6
        );
        registry.insert(cs);
    }
    let hot13_url = JpSystem::Hot(HotLevel::Hot13).url();
    let hot7_url = JpSystem::Hot(HotLevel::Hot7).url();
    let codes: Vec<String> = (0..ROWS).map(|i| hot13((i * 7919) % ROWS)).collect();

    let start = Instant::now();
    for c in &codes {
        assert!(
            black_box(registry.validate_code(hot13_url, None, c, &ValidateOptions::default()))
                .result
        );
    }
    println!(
        "$validate-code HOT13 (master): {}",
        per_op(start.elapsed(), ROWS)
    );

    let start = Instant::now();
    for c in &codes {
        black_box(
            registry
                .lookup(hot13_url, c, None, &[], None)
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    println!("$lookup HOT13 (master): {}", per_op(start.elapsed(), ROWS));

    let start = Instant::now();
    for c in &codes {
        black_box(
            registry
                .subsumes_codings(hot7_url, &c[..7], hot13_url, c, None)
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    println!(
        "$subsumes HOT7 ⊒ HOT13 (masters): {}",
        per_op(start.elapsed(), ROWS)
    );

    // No master: the shape only.
    let empty = Registry::new();
    let start = Instant::now();
    for c in &codes {
        assert!(
            black_box(empty.validate_code(hot13_url, None, c, &ValidateOptions::default())).result
        );
    }
    println!(
        "$validate-code HOT13 (shape only): {}",
        per_op(start.elapsed(), ROWS)
    );
}
