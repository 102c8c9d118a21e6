//! Finding a conformance resource by a versioned canonical
//! (references.html#canonical): `url|version` names that version, and a
//! version given with fewer parts (`|0.2`) matches the versions it is a
//! prefix of (`0.2.1`), the highest of them winning. Without a version,
//! the first loaded resource with the url.

use crate::{Package, PackageResource, PackageSet};

/// The StructureDefinition (or other resource of `resource_type`) a
/// canonical names.
pub(crate) fn find<'a>(
    packages: &'a PackageSet,
    resource_type: &'a str,
    canonical: &str,
) -> Option<(&'a Package, &'a PackageResource)> {
    if let Some(found) = packages.by_url(canonical) {
        return Some(found);
    }
    let (url, version) = match canonical.split_once('|') {
        Some((u, v)) => (u, v),
        None => return None,
    };
    let prefix = format!("{version}.");
    packages
        .of_type(resource_type)
        .filter(|(_, r)| {
            r.url.as_deref() == Some(url)
                && r.version.as_deref().is_some_and(|v| v.starts_with(&prefix))
        })
        .max_by(|(_, a), (_, b)| compare_versions(a.version.as_deref(), b.version.as_deref()))
        .or_else(|| packages.by_url(url))
}

/// Orders dotted versions part by part, numerically where both parts are
/// numbers.
fn compare_versions(a: Option<&str>, b: Option<&str>) -> std::cmp::Ordering {
    let (a, b) = (a.unwrap_or(""), b.unwrap_or(""));
    for (x, y) in a.split('.').zip(b.split('.')) {
        let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => x.cmp(y),
        };
        if ord.is_ne() {
            return ord;
        }
    }
    a.split('.').count().cmp(&b.split('.').count())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sd(version: &str) -> (String, Vec<u8>) {
        let json = format!(
            r#"{{"resourceType":"StructureDefinition","id":"p{v}","url":"http://x/p","version":"{version}"}}"#,
            v = version.replace('.', "-")
        );
        (format!("p{version}.json"), json.into_bytes())
    }

    #[test]
    fn a_partial_version_picks_the_highest_it_prefixes() {
        let mut set = PackageSet::new();
        set.add(
            Package::from_resources("t", "1", [sd("0.1.3"), sd("0.2.1"), sd("0.2.10")])
                .expect("package"),
        );
        let version =
            |c: &str| find(&set, "StructureDefinition", c).and_then(|(_, r)| r.version.clone());
        assert_eq!(version("http://x/p|0.2").as_deref(), Some("0.2.10"));
        assert_eq!(version("http://x/p|0.1.3").as_deref(), Some("0.1.3"));
        assert_eq!(version("http://x/p|0.3").as_deref(), Some("0.1.3"));
        assert!(version("http://x/q").is_none());
    }
}
