//! `fhir-server import [--database URL] PATH…`: loads FHIR data without
//! HTTP, through the same code as the REST API.
//!
//! Paths may be files or folders (walked recursively, in name order, so
//! Synthea's `0-…` bundles of shared resources come first). Files are
//! Bundles or single resources (`.json`) or one resource per line
//! (`.ndjson`), each plain, `.gz` or `.bz2`. A transaction or batch Bundle
//! goes through [`crate::interaction::bundle`] exactly as `POST /fhir`
//! would; NDJSON lines are written in database transactions of
//! `--batch-size` resources, since one commit per resource is what limits
//! the speed of a bulk load.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use fhir_model::json::tree::{self, Value};
use fhir_model::primitives::Id;
use fhir_model::Resource;
use indicatif::{ProgressBar, ProgressStyle};

use crate::interaction::bundle::{self, batch, transaction};
use crate::interaction::headers::Return;
use crate::store::{Store, TxWrite};

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The database (as `serve`; migrations run first).
    #[command(flatten)]
    pub database: crate::database_args::DatabaseArgs,
    /// NDJSON resources written per database transaction.
    #[arg(long, env = "FHIR_IMPORT_BATCH_SIZE", default_value_t = 500)]
    pub batch_size: usize,
    /// Local codes of imported masters, as `serve --local-codes`.
    #[arg(long, value_enum, env = "FHIR_LOCAL_CODES", default_value_t = crate::local_codes::Mode::Index)]
    pub local_codes: crate::local_codes::Mode,
    /// Files or folders to load.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// What was loaded, for the closing summary.
#[derive(Debug, Default)]
struct Summary {
    files: usize,
    stored: usize,
    failed: usize,
    /// The first problems, for the report.
    errors: Vec<String>,
}

impl Summary {
    fn fail(&mut self, count: usize, what: String) {
        self.failed += count;
        if self.errors.len() < 20 {
            self.errors.push(what);
        }
    }
}

pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    let store = args
        .database
        .resolve()?
        .open(&crate::store::PoolConfig::fixed(4))?;
    store.local_codes().set_mode(args.local_codes);
    let mut files = Vec::new();
    for p in &args.paths {
        collect(p, &mut files).with_context(|| format!("cannot read {}", p.display()))?;
    }
    if files.is_empty() {
        bail!("no .json or .ndjson files (plain, .gz or .bz2) under the given paths");
    }
    let total: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {bytes}/{total_bytes} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let mut summary = Summary::default();
    for file in &files {
        let name = file.display().to_string();
        bar.set_message(
            file.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        summary.files += 1;
        match read_file(file) {
            Ok((bytes, ndjson)) => {
                if ndjson {
                    import_ndjson(&store, &name, &bytes, args.batch_size.max(1), &mut summary);
                } else {
                    import_json(&store, &name, &bytes, &mut summary);
                }
            }
            Err(e) => summary.fail(1, format!("{name}: {e:#}")),
        }
        bar.inc(std::fs::metadata(file).map(|m| m.len()).unwrap_or(0));
    }
    bar.finish_and_clear();
    // Only once the store is large enough, and grown since the last
    // statistics (`store/statistics.rs`).
    if let Err(e) = store.refresh_statistics() {
        log::warn!("refreshing the planner statistics failed: {e}");
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "imported {} resources from {} files in {secs:.1} s ({:.0} resources/s); {} failed",
        summary.stored,
        summary.files,
        summary.stored as f64 / secs.max(1e-9),
        summary.failed
    );
    for e in &summary.errors {
        println!("  {e}");
    }
    if summary.failed > 0 {
        bail!(
            "{} entries or resources could not be imported",
            summary.failed
        );
    }
    Ok(())
}

/// The data files under `path`, in name order.
fn collect(path: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            collect(&e, out)?;
        }
    } else if kind_of(path).is_some() {
        out.push(path.to_owned());
    } else if !path.exists() {
        bail!("no such file");
    }
    Ok(())
}

/// `Some(ndjson?)` for the names this command reads.
fn kind_of(path: &Path) -> Option<bool> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    let name = name
        .strip_suffix(".gz")
        .or_else(|| name.strip_suffix(".bz2"))
        .unwrap_or(&name);
    if name.ends_with(".ndjson") {
        Some(true)
    } else if name.ends_with(".json") {
        Some(false)
    } else {
        None
    }
}

/// The file's bytes, decompressed, and whether it is NDJSON.
fn read_file(path: &Path) -> anyhow::Result<(Vec<u8>, bool)> {
    let ndjson = kind_of(path).unwrap_or(false);
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    let name = path.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".gz") {
        flate2::read::GzDecoder::new(file)
            .read_to_end(&mut bytes)
            .context("not gzip")?;
    } else if name.ends_with(".bz2") {
        bzip2::read::BzDecoder::new(file)
            .read_to_end(&mut bytes)
            .context("not bzip2")?;
    } else {
        std::io::BufReader::new(file).read_to_end(&mut bytes)?;
    }
    Ok((bytes, ndjson))
}

fn import_json(store: &Store, name: &str, bytes: &[u8], summary: &mut Summary) {
    let resource = match Resource::from_json_slice(bytes) {
        Ok(r) => r,
        Err(e) => return summary.fail(1, format!("{name}: {e}")),
    };
    if let Resource::Bundle(bundle) = resource {
        let kind = bundle
            .type_
            .as_ref()
            .and_then(|t| t.value.as_ref())
            .map(|c| c.as_str().to_owned());
        let entries = bundle.entry.len();
        let response = match kind.as_deref() {
            // Only the statuses are counted: no copy of each resource.
            Some("transaction") => transaction::run(
                store,
                "",
                *bundle,
                &bundle::Services::default(),
                Return::Minimal,
            ),
            Some("batch") => Ok(batch::run(
                store,
                "",
                *bundle,
                &bundle::Services::default(),
                Default::default(),
                Return::Minimal,
            )),
            _ => return store_one(store, name, Resource::Bundle(bundle), summary),
        };
        match response {
            Ok(body) => count_response(name, &body, summary),
            Err(e) => summary.fail(entries, format!("{name}: {e}")),
        }
    } else {
        store_one(store, name, resource, summary);
    }
}

/// Counts the entries of a batch- or transaction-response by status.
fn count_response(name: &str, body: &[u8], summary: &mut Summary) {
    let Ok(Value::Object(bundle)) = tree::parse(body) else {
        return;
    };
    let Some((_, Value::Array(entries))) = bundle.iter().find(|(k, _)| k == "entry") else {
        return;
    };
    for (i, entry) in entries.iter().enumerate() {
        let status = field(entry, "response").and_then(|r| field(r, "status"));
        match status {
            Some(Value::String(s)) if s.starts_with('2') => summary.stored += 1,
            other => {
                let why = field(entry, "response")
                    .and_then(|r| field(r, "outcome"))
                    .map(|o| String::from_utf8_lossy(&tree::to_json(o)).into_owned())
                    .unwrap_or_default();
                summary.fail(1, format!("{name}: entry {i}: {other:?} {why}"));
            }
        }
    }
}

fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
        _ => None,
    }
}

/// A resource with an id is stored under it (update-as-create), one
/// without gets a new id, as PUT and POST would.
fn write_of(mut r: Resource) -> anyhow::Result<TxWrite> {
    if r.id().is_some() {
        Ok(TxWrite::Update(r, None))
    } else {
        r.set_id(Some(Id::new(uuid::Uuid::new_v4().to_string())?));
        Ok(TxWrite::Create(r))
    }
}

fn store_one(store: &Store, name: &str, resource: Resource, summary: &mut Summary) {
    let result = write_of(resource).and_then(|w| {
        store
            .transaction(&mut [w])
            .map_err(|(_, e)| anyhow::anyhow!("{e}"))
    });
    match result {
        Ok(_) => summary.stored += 1,
        Err(e) => summary.fail(1, format!("{name}: {e:#}")),
    }
}

fn import_ndjson(
    store: &Store,
    name: &str,
    bytes: &[u8],
    batch_size: usize,
    summary: &mut Summary,
) {
    let mut chunk: Vec<(usize, TxWrite)> = Vec::with_capacity(batch_size);
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match Resource::from_json_slice(line)
            .map_err(anyhow::Error::from)
            .and_then(write_of)
        {
            Ok(w) => chunk.push((n + 1, w)),
            Err(e) => summary.fail(1, format!("{name}:{}: {e:#}", n + 1)),
        }
        if chunk.len() >= batch_size {
            flush(store, name, &mut chunk, summary);
        }
    }
    flush(store, name, &mut chunk, summary);
}

/// Writes a chunk in one transaction; if that fails, line by line, so one
/// bad line costs only itself.
fn flush(store: &Store, name: &str, chunk: &mut Vec<(usize, TxWrite)>, summary: &mut Summary) {
    if chunk.is_empty() {
        return;
    }
    let (lines, mut writes): (Vec<usize>, Vec<TxWrite>) = std::mem::take(chunk).into_iter().unzip();
    if store.transaction(&mut writes).is_ok() {
        summary.stored += writes.len();
        return;
    }
    for (line, w) in lines.into_iter().zip(writes) {
        match store.transaction(&mut [w]) {
            Ok(_) => summary.stored += 1,
            Err((_, e)) => summary.fail(1, format!("{name}:{line}: {e}")),
        }
    }
}
