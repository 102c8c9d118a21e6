//! `fhir-server fhirpath [--resource FILE] [--var NAME=VALUE]… EXPR`:
//! evaluates a FHIRPath expression and prints the result as a JSON array
//! of `{"type": T, "value": V}`. A thin adapter onto the `fhirpath` crate.

use anyhow::{bail, Context as _};
use clap::Args;

#[derive(Debug, Args)]
pub struct FhirpathArgs {
    /// A JSON resource to evaluate against (the input, `%resource`).
    #[arg(long, env = "FHIR_FHIRPATH_RESOURCE")]
    pub resource: Option<std::path::PathBuf>,
    /// Defines `%NAME` as the string VALUE; may be repeated.
    #[arg(
        long = "var",
        value_name = "NAME=VALUE",
        env = "FHIR_FHIRPATH_VAR",
        value_delimiter = ','
    )]
    pub vars: Vec<String>,
    /// The FHIRPath expression.
    pub expression: String,
}

pub fn run(args: FhirpathArgs) -> anyhow::Result<()> {
    let expr = fhirpath::Expression::compile(&args.expression)
        .with_context(|| format!("cannot compile {:?}", args.expression))?;
    let resource = match &args.resource {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            Some(
                fhir_model::json::tree::parse(&bytes)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
            )
        }
        None => None,
    };
    let mut ctx = match &resource {
        Some(r) => fhirpath::Context::new(r),
        None => fhirpath::Context::empty(),
    };
    for var in &args.vars {
        let Some((name, value)) = var.split_once('=') else {
            bail!("--var {var:?}: expected NAME=VALUE");
        };
        ctx = ctx.with_var(name, vec![fhirpath::Item::String(value.to_owned())]);
    }
    let result = expr.evaluate(&ctx).context("evaluation failed")?;
    println!("{}", fhirpath::result_json(&result));
    Ok(())
}
