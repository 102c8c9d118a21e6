//! Loading the real packages of `../shared/fhir-packages/` and small
//! packages built on the fly (folder, cache, broken archives).

use std::io::Write;
use std::path::{Path, PathBuf};

use profiles::{Error, Package, PackageCache, PackageSet, Warning};

fn shared(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fhir-packages")
        .join(name)
}

fn count(p: &Package, t: &str) -> usize {
    p.of_type(t).count()
}

/// A fresh empty folder under the system temp dir.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("profiles-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const MANIFEST: &str = r#"{"name":"example.small","version":"0.1.0","fhirVersions":["4.0.1"],
  "dependencies":{"hl7.fhir.r4.core":"4.0.1","example.dep":"1.0.0"}}"#;
const SD: &str = r#"{"resourceType":"StructureDefinition","id":"my-patient",
  "url":"http://example.org/StructureDefinition/my-patient","version":"0.1.0","type":"Patient"}"#;
const VS: &str =
    r#"{"resourceType":"ValueSet","id":"colors","url":"http://example.org/ValueSet/colors"}"#;

fn write_package(dir: &Path, files: &[(&str, &str)]) {
    let pkg = dir.join("package");
    std::fs::create_dir_all(&pkg).unwrap();
    for (name, text) in files {
        std::fs::write(pkg.join(name), text).unwrap();
    }
}

fn tgz(files: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

#[test]
fn jp_core_counts_and_lookup() {
    let p = Package::from_tgz(shared("jp-core.r4-1.1.2.tgz")).unwrap();
    assert_eq!(p.manifest().name, "jp-core.r4");
    assert_eq!(p.manifest().version, "1.1.2");
    assert_eq!(p.manifest().fhir_versions, ["4.0.1"]);
    for (t, n) in [
        ("StructureDefinition", 89),
        ("CodeSystem", 22),
        ("ValueSet", 37),
        ("NamingSystem", 22),
        ("SearchParameter", 8),
        ("CapabilityStatement", 2),
    ] {
        assert_eq!(count(&p, t), n, "{t}");
    }
    let url = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient";
    let r = p.by_url(url).expect("JP_Patient");
    assert_eq!(r.resource_type, "StructureDefinition");
    assert_eq!(r.id, "jp-patient");
    // JP Core's profiles carry no `version`, so only the bare URL finds them.
    assert_eq!(r.version, None);
    assert!(p.by_url(&format!("{url}|1.1.2")).is_none());
    let tree = r.json(p.source()).unwrap();
    assert!(matches!(tree, fhir_model::json::tree::Value::Object(_)));
    assert!(p.by_type_id("StructureDefinition", "jp-patient").is_some());
}

#[test]
fn jp_core_warns_once_about_jpfhir_terminology() {
    let empty_cache = PackageCache::new(temp_dir("empty-cache"));
    let mut set = PackageSet::new();
    set.add(Package::from_tgz(shared("jp-core.r4-1.1.2.tgz")).unwrap());
    // Without the core package: two warnings.
    assert_eq!(set.missing_dependencies().len(), 2);
    set.add(Package::from_tgz(shared("hl7.fhir.r4.core-4.0.1.tgz")).unwrap());
    let warnings = set.resolve_dependencies(Some(&empty_cache)).unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let Warning::MissingDependency {
        required_by,
        id,
        version,
    } = &warnings[0]
    else {
        panic!("{warnings:?}")
    };
    // From JP Core's ImplementationGuide.dependsOn, not its package.json.
    assert_eq!(
        (id.as_str(), version.as_str()),
        ("jpfhir-terminology", "1.1.1")
    );
    assert_eq!(required_by, "jp-core.r4#1.1.2");
    assert!(warnings[0].to_string().contains("jpfhir-terminology"));

    // JP-CLINS depends on JP Core (`1.1.2-url`, satisfied) and on
    // jpfhir-terminology.r4 1.2.2 (a different package id): one more warning.
    set.add(Package::from_tgz(shared("jp-eCSCLINS.r4-1.5.2.tgz")).unwrap());
    let warnings = set.resolve_dependencies(Some(&empty_cache)).unwrap();
    let ids: Vec<String> = warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(warnings.len(), 2, "{ids:?}");
    assert!(ids[1].contains("jpfhir-terminology.r4#1.2.2"), "{ids:?}");
    assert_eq!(set.missing_dependencies(), warnings);

    // JP-CLINS profiles and core definitions resolve through the one set.
    assert!(set
        .by_url("http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient")
        .is_some());
    assert!(set
        .by_url("http://hl7.org/fhir/StructureDefinition/Patient|4.0.1")
        .is_some());
    assert!(set.by_type_id("SearchParameter", "Patient-name").is_some());
}

#[test]
fn jp_clins_loads() {
    let p = Package::from_tgz(shared("jp-eCSCLINS.r4-1.5.2.tgz")).unwrap();
    assert_eq!(p.manifest().name, "jp-eCSCLINS.r4");
    assert_eq!(count(&p, "StructureDefinition"), 49);
    assert_eq!(count(&p, "CodeSystem"), 23);
    assert_eq!(count(&p, "ValueSet"), 222);
}

#[test]
fn r4_core_counts_and_load_time() {
    let start = std::time::Instant::now();
    let p = Package::from_tgz(shared("hl7.fhir.r4.core-4.0.1.tgz")).unwrap();
    eprintln!("hl7.fhir.r4.core loaded in {:?}", start.elapsed());
    assert_eq!(p.manifest().label(), "hl7.fhir.r4.core#4.0.1");
    for (t, n) in [
        ("SearchParameter", 1378),
        ("StructureDefinition", 7419),
        ("ValueSet", 1317),
        ("CodeSystem", 1063),
        ("ConceptMap", 19),
        ("OperationDefinition", 46),
        ("CompartmentDefinition", 5),
        ("CapabilityStatement", 2),
    ] {
        assert_eq!(count(&p, t), n, "{t}");
    }
    let (_, r) = {
        let mut set = PackageSet::new();
        set.add(p);
        let found = set
            .by_url("http://hl7.org/fhir/ValueSet/administrative-gender")
            .map(|(p, r)| (p.manifest().label(), r.id.clone()));
        found.unwrap()
    };
    assert_eq!(r, "administrative-gender");
}

#[test]
fn folder_layout_without_index() {
    let dir = temp_dir("folder");
    write_package(
        &dir,
        &[
            ("package.json", MANIFEST),
            ("StructureDefinition-my-patient.json", SD),
            ("ValueSet-colors.json", VS),
        ],
    );
    std::fs::create_dir_all(dir.join("package/example")).unwrap();
    std::fs::write(dir.join("package/example/broken.json"), "not json").unwrap();
    for root in [dir.clone(), dir.join("package")] {
        let p = Package::from_dir(&root).unwrap();
        assert_eq!(p.resources().len(), 2);
        assert_eq!(
            p.by_url("http://example.org/StructureDefinition/my-patient|0.1.0")
                .unwrap()
                .id,
            "my-patient"
        );
        assert_eq!(
            p.by_type_id("ValueSet", "colors").unwrap().file,
            "ValueSet-colors.json"
        );
    }
}

#[test]
fn folder_layout_with_index() {
    let dir = temp_dir("indexed");
    let index = r#"{"index-version":1,"files":[{"filename":"ValueSet-colors.json",
      "resourceType":"ValueSet","id":"colors","url":"http://example.org/ValueSet/colors"}]}"#;
    write_package(
        &dir,
        &[
            ("package.json", MANIFEST),
            (".index.json", index),
            ("ValueSet-colors.json", VS),
            ("StructureDefinition-my-patient.json", SD),
        ],
    );
    let p = Package::from_dir(&dir).unwrap();
    // The unindexed file is still read.
    assert_eq!(p.resources().len(), 2);
    assert!(p.by_url("http://example.org/ValueSet/colors").is_some());
    assert!(p
        .by_url("http://example.org/StructureDefinition/my-patient")
        .is_some());

    let bad_index = r#"{"index-version":1,"files":[{"filename":"Missing.json","resourceType":"ValueSet","id":"x"}]}"#;
    let dir = temp_dir("bad-index");
    write_package(
        &dir,
        &[("package.json", MANIFEST), (".index.json", bad_index)],
    );
    let err = Package::from_dir(&dir).unwrap_err();
    assert!(matches!(err, Error::Index { .. }), "{err}");
    assert!(err.to_string().contains("Missing.json"), "{err}");
}

#[test]
fn cache_layout_and_dependency_from_cache() {
    let root = temp_dir("cache");
    write_package(
        &root.join("example.small#0.1.0"),
        &[("package.json", MANIFEST), ("ValueSet-colors.json", VS)],
    );
    let dep = r#"{"name":"example.dep","version":"1.0.0","dependencies":{"example.gone":"2.0.0"}}"#;
    write_package(
        &root.join("example.dep#1.0.0"),
        &[
            ("package.json", dep),
            ("StructureDefinition-my-patient.json", SD),
        ],
    );
    let cache = PackageCache::new(&root);
    assert!(cache.contains("example.small", "0.1.0"));
    assert!(!cache.contains("example.small", "9.9.9"));
    assert!(matches!(
        cache.load("nope", "1"),
        Err(Error::NotInCache { .. })
    ));

    let mut set = PackageSet::new();
    set.add(cache.load("example.small", "0.1.0").unwrap());
    assert!(
        !set.add(cache.load("example.small", "0.1.0").unwrap()),
        "added twice"
    );
    let warnings = set.resolve_dependencies(Some(&cache)).unwrap();
    assert!(set.is_loaded("example.dep", Some("1.0.0")));
    assert!(set
        .by_url("http://example.org/StructureDefinition/my-patient")
        .is_some());
    let missing: Vec<String> = warnings
        .iter()
        .map(|w| match w {
            Warning::MissingDependency { id, .. } => id.clone(),
            other => panic!("{other}"),
        })
        .collect();
    assert_eq!(missing, ["hl7.fhir.r4.core", "example.gone"]);
    assert_eq!(set.resolve_dependencies(Some(&cache)).unwrap().len(), 2);
}

#[test]
fn user_default_cache_is_under_home() {
    if let Some(c) = PackageCache::user_default() {
        assert!(c.root().ends_with(".fhir/packages"));
        assert!(c.path("a", "1").ends_with("a#1"));
    }
}

#[test]
fn small_tgz_loads() {
    let bytes = tgz(&[
        ("package/package.json", MANIFEST.as_bytes()),
        ("package/ValueSet-colors.json", VS.as_bytes()),
        ("package/other/ignored.txt", b"x"),
    ]);
    let p = Package::from_tgz_bytes(&bytes, "small.tgz").unwrap();
    assert_eq!(p.resources().len(), 1);
    assert_eq!(p.manifest().dependencies.len(), 2);
}

#[test]
fn corrupt_archive_is_an_error() {
    let good = tgz(&[
        ("package/package.json", MANIFEST.as_bytes()),
        ("package/ValueSet-colors.json", VS.as_bytes()),
    ]);
    // Not gzip at all.
    let err = Package::from_tgz_bytes(b"this is not a tgz", "junk.tgz").unwrap_err();
    assert!(matches!(err, Error::Archive { .. }), "{err}");
    assert!(err.to_string().contains("junk.tgz"), "{err}");
    // Truncated.
    let err = Package::from_tgz_bytes(&good[..good.len() / 2], "cut.tgz").unwrap_err();
    assert!(
        matches!(err, Error::Archive { .. } | Error::MissingManifest { .. }),
        "{err}"
    );
    // A file on disk.
    let dir = temp_dir("corrupt");
    let path = dir.join("broken.tgz");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(&good[..40])
        .unwrap();
    assert!(Package::from_tgz(&path).is_err());
    assert!(matches!(
        Package::from_tgz(dir.join("absent.tgz")),
        Err(Error::Io { .. })
    ));
}

#[test]
fn missing_manifest_and_non_json_are_errors() {
    let err = Package::from_tgz_bytes(
        &tgz(&[("package/ValueSet-colors.json", VS.as_bytes())]),
        "nomanifest.tgz",
    )
    .unwrap_err();
    assert!(matches!(err, Error::MissingManifest { .. }), "{err}");

    let bytes = tgz(&[
        ("package/package.json", MANIFEST.as_bytes()),
        ("package/Bad.json", b"{not json"),
    ]);
    let err = Package::from_tgz_bytes(&bytes, "bad.tgz").unwrap_err();
    match &err {
        Error::Json { entry, .. } => assert_eq!(entry, "Bad.json"),
        other => panic!("{other}"),
    }

    let bytes = tgz(&[
        ("package/package.json", MANIFEST.as_bytes()),
        ("package/Thing.json", b"{\"a\":1}"),
    ]);
    let err = Package::from_tgz_bytes(&bytes, "thing.tgz").unwrap_err();
    assert!(matches!(err, Error::NotAResource { .. }), "{err}");

    let bytes = tgz(&[("package/package.json", b"[1]")]);
    assert!(matches!(
        Package::from_tgz_bytes(&bytes, "m.tgz"),
        Err(Error::Manifest { .. })
    ));
}
