//! `fhir-server jp-master --system KEY [--output FILE] CSV`: turns a
//! Japanese standard code master (the publisher's CSV, UTF-8 or Shift_JIS)
//! into a complete CodeSystem with `terminology::japanese::master` and
//! writes it as one line of JSON, which is NDJSON: `fhir-server import
//! FILE.ndjson` stores it (its id is fixed, `jp-KEY`, so a newer master
//! replaces the older one), or `PUT /fhir/CodeSystem/jp-KEY` sends it.
//! Keys: `jlac10`, `jlac11`, `hot7`, `hot9`, `hot11`, `hot13`, `yj`,
//! `receipt`, `medis-disease` (the columns each reads are in the module
//! doc of `terminology::japanese::master`).

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use terminology::japanese::{master, JpSystem};

#[derive(Debug, Args)]
pub struct JpMasterArgs {
    /// Which system: jlac10, jlac11, hot7, hot9, hot11, hot13, yj,
    /// receipt or medis-disease. The HOT levels and yj all read the one
    /// MEDIS HOT master.
    #[arg(long, env = "FHIR_JP_MASTER_SYSTEM")]
    pub system: String,
    /// Where to write the CodeSystem (standard output when absent).
    #[arg(long, env = "FHIR_JP_MASTER_OUTPUT")]
    pub output: Option<PathBuf>,
    /// The master's CSV file.
    pub csv: PathBuf,
}

pub fn run(args: JpMasterArgs) -> anyhow::Result<()> {
    let system = JpSystem::from_key(&args.system).with_context(|| {
        let keys: Vec<&str> = JpSystem::ALL.iter().map(|s| s.key()).collect();
        format!(
            "unknown --system {:?}; one of {}",
            args.system,
            keys.join(", ")
        )
    })?;
    let bytes =
        std::fs::read(&args.csv).with_context(|| format!("cannot read {}", args.csv.display()))?;
    let mut json = master::load(system, &bytes)
        .with_context(|| format!("{}: not a {} master", args.csv.display(), system.name()))?;
    json.push(b'\n');
    match &args.output {
        Some(path) => std::fs::write(path, &json)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout().write_all(&json)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../terminology/tests/fixtures/japanese")
            .join(name)
    }

    #[test]
    fn writes_one_line_of_code_system_json() {
        let out = std::env::temp_dir().join(format!("jp-master-{}.ndjson", std::process::id()));
        run(JpMasterArgs {
            system: "HOT9".into(),
            output: Some(out.clone()),
            csv: fixture("hot_master.sjis.csv"),
        })
        .unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        let _ = std::fs::remove_file(&out);
        assert_eq!(text.lines().count(), 1);
        let cs: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(cs["id"], "jp-hot9");
        assert_eq!(cs["url"], "http://medis.or.jp/CodeSystem/master-HOT9");
        assert_eq!(cs["count"], 3);
        // The store accepts it as a CodeSystem.
        fhir_model::Resource::from_json_slice(text.trim().as_bytes()).unwrap();

        let e = run(JpMasterArgs {
            system: "hot8".into(),
            output: None,
            csv: fixture("hot_master.sjis.csv"),
        })
        .unwrap_err();
        assert!(
            e.to_string().starts_with("unknown --system \"hot8\""),
            "{e}"
        );
        let e = run(JpMasterArgs {
            system: "jlac10".into(),
            output: None,
            csv: fixture("hot_master.sjis.csv"),
        })
        .unwrap_err();
        assert!(format!("{e:#}").contains("not a JLAC10 master"), "{e:#}");
    }
}
