//! One FHIR package in the npm layout the spec defines
//! (<https://hl7.org/fhir/packages.html>): `package/package.json`, one
//! resource per JSON file directly under `package/`, and an optional
//! `package/.index.json` listing each file's `resourceType`, `id`, `url` and
//! `version`. Subfolders (`package/example/`, `package/other/`) are not part
//! of the package's resources and are skipped, as the HL7 validator does.
//!
//! A package comes from a `.tgz` ([`Package::from_tgz`]), an unpacked folder
//! ([`Package::from_dir`]) or the shared package cache ([`PackageCache`]).
//!
//! Resources are kept as **bytes plus an index**, not as parsed trees. The
//! R4 core package is ~100 MB of JSON in 11,000 files, and a server touches a
//! few hundred of them; parsing everything up front would cost seconds and
//! several times that memory in trees. When `.index.json` is present, loading
//! reads no resource at all; a file is parsed on first use
//! ([`PackageResource::json`]) and the tree is kept from then on.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use fhir_model::json::tree::{self, Value};

use crate::Error;

/// What `package.json` says about the package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The package id (`name` in package.json), e.g. `hl7.fhir.r4.core`.
    pub name: String,
    pub version: String,
    pub fhir_versions: Vec<String>,
    pub canonical: Option<String>,
    /// `dependencies` of package.json, then any `ImplementationGuide.dependsOn`
    /// not already listed (see [`Dependency`]).
    pub dependencies: Vec<Dependency>,
}

impl Manifest {
    /// `id#version`, the name the package cache and the validator use.
    pub fn label(&self) -> String {
        format!("{}#{}", self.name, self.version)
    }
}

/// A package this one needs.
///
/// Publishers do not always list every dependency in package.json: JP Core
/// 1.1.2 names only `hl7.fhir.r4.core` there, while its ImplementationGuide
/// resource `dependsOn` `jpfhir-terminology`. Both sources are read, so a
/// missing terminology package is reported instead of silently ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub id: String,
    pub version: String,
}

/// One resource file of a package.
#[derive(Debug)]
pub struct PackageResource {
    /// File name inside `package/`.
    pub file: String,
    pub resource_type: String,
    pub id: String,
    pub url: Option<String>,
    pub version: Option<String>,
    bytes: Vec<u8>,
    tree: OnceLock<Value>,
}

impl PackageResource {
    /// The file's bytes exactly as the package ships them.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The resource as a JSON tree, parsed on first call and kept.
    /// `package` is the package's source path, for the error.
    pub fn json(&self, package: &Path) -> Result<&Value, Error> {
        if let Some(v) = self.tree.get() {
            return Ok(v);
        }
        let v = tree::parse(&self.bytes).map_err(|e| Error::Json {
            path: package.to_path_buf(),
            entry: self.file.clone(),
            message: e.to_string(),
        })?;
        Ok(self.tree.get_or_init(|| v))
    }
}

/// A loaded package: its manifest and its resources, indexed by
/// (resourceType, id) and by canonical `url` and `url|version`.
///
/// **Invariant:** every index points into `resources`; within one package
/// the first file with a given key wins (later duplicates stay listed but
/// are not indexed).
#[derive(Debug)]
pub struct Package {
    manifest: Manifest,
    source: PathBuf,
    resources: Vec<PackageResource>,
    by_type_id: HashMap<(String, String), usize>,
    by_url: HashMap<String, usize>,
}

impl Package {
    /// Loads a gzip-compressed tar archive (`.tgz`), as npm and
    /// packages.fhir.org serve them.
    pub fn from_tgz(path: impl AsRef<Path>) -> Result<Package, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Package::from_tgz_bytes(&bytes, path)
    }

    /// Loads a `.tgz` already in memory (for a package built into the
    /// binary); `source` only names it in errors.
    pub fn from_tgz_bytes(bytes: &[u8], source: impl AsRef<Path>) -> Result<Package, Error> {
        Package::from_tar(flate2::read::GzDecoder::new(bytes), source.as_ref())
    }

    /// Loads a package from an uncompressed tar stream (`tar` decompresses
    /// as it reads, so the archive is never held whole in memory).
    pub(crate) fn from_tar(tar: impl Read, source: &Path) -> Result<Package, Error> {
        let mut files = Files::default();
        let mut archive = tar::Archive::new(tar);
        let corrupt = |entry: Option<String>, e: std::io::Error| Error::Archive {
            path: source.to_path_buf(),
            entry,
            source: e,
        };
        for entry in archive.entries().map_err(|e| corrupt(None, e))? {
            let mut entry = entry.map_err(|e| corrupt(None, e))?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = entry
                .path()
                .map_err(|e| corrupt(None, e))?
                .to_string_lossy()
                .into_owned();
            let Some(file) = package_file_name(&name) else {
                continue;
            };
            // The header's size is input: cap the reservation, let reads grow it.
            let mut data = Vec::with_capacity(entry.size().min(1 << 24) as usize);
            entry
                .read_to_end(&mut data)
                .map_err(|e| corrupt(Some(name.clone()), e))?;
            files.insert(file, data);
        }
        Package::build(source, files)
    }

    /// Loads an unpacked package: `dir` is either the folder holding
    /// `package/` (the cache layout) or the `package/` folder itself.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Package, Error> {
        let dir = dir.as_ref();
        let inner = dir.join("package");
        let pkg_dir = if inner.is_dir() {
            inner
        } else {
            dir.to_path_buf()
        };
        let io = |path: &Path, source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut files = Files::default();
        for entry in std::fs::read_dir(&pkg_dir).map_err(|e| io(&pkg_dir, e))? {
            let entry = entry.map_err(|e| io(&pkg_dir, e))?;
            let path = entry.path();
            if !path.is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".json") {
                continue;
            }
            let data = std::fs::read(&path).map_err(|e| io(&path, e))?;
            files.insert(name, data);
        }
        Package::build(dir, files)
    }

    /// A package made of loose JSON resources (a request's contained
    /// definitions, a test's supporting files), named `name#version`;
    /// `files` are (file name, bytes). Same indexing as a real package.
    pub fn from_resources(
        name: &str,
        version: &str,
        files: impl IntoIterator<Item = (String, Vec<u8>)>,
    ) -> Result<Package, Error> {
        let mut all = Files::default();
        let manifest = Value::Object(vec![
            ("name".to_owned(), Value::String(name.to_owned())),
            ("version".to_owned(), Value::String(version.to_owned())),
        ]);
        all.insert("package.json".into(), tree::to_json(&manifest));
        for (file, data) in files {
            all.insert(file, data);
        }
        Package::build(Path::new(name), all)
    }

    fn build(source: &Path, mut files: Files) -> Result<Package, Error> {
        let manifest_bytes = files
            .take("package.json")
            .ok_or_else(|| Error::MissingManifest {
                path: source.to_path_buf(),
            })?;
        let mut manifest = read_manifest(source, &manifest_bytes)?;
        let index = files.take(".index.json");

        let mut resources = Vec::with_capacity(files.order.len());
        let mut indexed = std::collections::HashSet::new();
        if let Some(index) = index {
            let metas = read_index(source, &index)?;
            // An index that lists a file twice (the repackaged R4 core does,
            // for 12 `de-…` files) cannot say which entry the file holds;
            // such files are read instead, like unindexed ones.
            let mut listed: HashMap<&str, usize> = HashMap::new();
            for m in &metas {
                *listed.entry(m.file.as_str()).or_default() += 1;
            }
            let ambiguous: std::collections::HashSet<String> = listed
                .into_iter()
                .filter(|&(_, n)| n > 1)
                .map(|(f, _)| f.to_string())
                .collect();
            for meta in metas {
                if ambiguous.contains(&meta.file) {
                    continue;
                }
                let bytes = files.take(&meta.file).ok_or_else(|| Error::Index {
                    path: source.to_path_buf(),
                    entry: meta.file.clone(),
                    message: "no such file in the package".into(),
                })?;
                indexed.insert(meta.file.clone());
                resources.push(meta.into_resource(bytes));
            }
        }
        // Files the index does not list (or every file, without an index)
        // are read to find their keys; the tree is kept since it is built.
        for name in std::mem::take(&mut files.order) {
            if indexed.contains(&name) {
                continue;
            }
            let Some(bytes) = files.take(&name) else {
                continue;
            };
            let value = tree::parse(&bytes).map_err(|e| Error::Json {
                path: source.to_path_buf(),
                entry: name.clone(),
                message: e.to_string(),
            })?;
            let meta = Meta::from_resource(source, &name, &value)?;
            let r = meta.into_resource(bytes);
            let _ = r.tree.set(value);
            resources.push(r);
        }

        let mut by_type_id = HashMap::new();
        let mut by_url = HashMap::new();
        for (i, r) in resources.iter().enumerate() {
            by_type_id
                .entry((r.resource_type.clone(), r.id.clone()))
                .or_insert(i);
            if let Some(url) = &r.url {
                by_url.entry(url.clone()).or_insert(i);
                if let Some(v) = &r.version {
                    by_url.entry(format!("{url}|{v}")).or_insert(i);
                }
            }
        }

        let mut package = Package {
            manifest: manifest.clone(),
            source: source.to_path_buf(),
            resources,
            by_type_id,
            by_url,
        };
        // ImplementationGuide.dependsOn: see `Dependency`.
        let igs: Vec<usize> = (0..package.resources.len())
            .filter(|&i| package.resources[i].resource_type == "ImplementationGuide")
            .collect();
        for i in igs {
            let ig = package.resources[i].json(source)?;
            for dep in depends_on(ig) {
                if !manifest.dependencies.iter().any(|d| d.id == dep.id) && dep.id != manifest.name
                {
                    manifest.dependencies.push(dep);
                }
            }
        }
        package.manifest = manifest;
        Ok(package)
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The `.tgz` or folder the package was read from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    pub fn resources(&self) -> &[PackageResource] {
        &self.resources
    }

    pub fn by_type_id(&self, resource_type: &str, id: &str) -> Option<&PackageResource> {
        // A tuple key of Strings cannot be borrowed as (&str, &str); the
        // two small allocations are cheaper than a second map.
        let i = self
            .by_type_id
            .get(&(resource_type.to_string(), id.to_string()))?;
        self.resources.get(*i)
    }

    /// By canonical URL, with or without `|version`.
    pub fn by_url(&self, canonical: &str) -> Option<&PackageResource> {
        self.resources.get(*self.by_url.get(canonical)?)
    }

    /// Every resource of one type, in file order.
    pub fn of_type<'a>(
        &'a self,
        resource_type: &'a str,
    ) -> impl Iterator<Item = &'a PackageResource> + 'a {
        self.resources
            .iter()
            .filter(move |r| r.resource_type == resource_type)
    }
}

/// The shared FHIR package cache, `~/.fhir/packages/<id>#<version>/`, the
/// folder the HL7 validator, SUSHI and Firely fill and read.
#[derive(Debug, Clone)]
pub struct PackageCache {
    root: PathBuf,
}

impl PackageCache {
    /// The cache at `root` (tests and servers with a cache of their own).
    pub fn new(root: impl Into<PathBuf>) -> PackageCache {
        PackageCache { root: root.into() }
    }

    /// `$HOME/.fhir/packages`, or `None` when `HOME` is not set.
    pub fn user_default() -> Option<PackageCache> {
        let home = std::env::var_os("HOME")?;
        Some(PackageCache::new(
            Path::new(&home).join(".fhir").join("packages"),
        ))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder `id#version` would occupy.
    pub fn path(&self, id: &str, version: &str) -> PathBuf {
        self.root.join(format!("{id}#{version}"))
    }

    pub fn contains(&self, id: &str, version: &str) -> bool {
        self.path(id, version)
            .join("package")
            .join("package.json")
            .is_file()
    }

    pub fn load(&self, id: &str, version: &str) -> Result<Package, Error> {
        if !self.contains(id, version) {
            return Err(Error::NotInCache {
                id: id.into(),
                version: version.into(),
                root: self.root.clone(),
            });
        }
        Package::from_dir(self.path(id, version))
    }
}

/// Files of `package/` in archive order, looked up by name.
#[derive(Default)]
struct Files {
    order: Vec<String>,
    data: HashMap<String, Vec<u8>>,
}

impl Files {
    fn insert(&mut self, name: String, data: Vec<u8>) {
        if self.data.insert(name.clone(), data).is_none() {
            self.order.push(name);
        }
    }

    fn take(&mut self, name: &str) -> Option<Vec<u8>> {
        self.data.remove(name)
    }
}

/// `package/X.json` (also `./package/X.json`) → `X.json`; anything in a
/// subfolder, or not JSON, → `None`.
fn package_file_name(entry: &str) -> Option<String> {
    let rest = entry.strip_prefix("./").unwrap_or(entry);
    let file = rest.strip_prefix("package/")?;
    // `._X.json` are macOS AppleDouble metadata files that tar on a Mac
    // adds; they are not JSON.
    if file.contains('/') || !file.ends_with(".json") || file.starts_with("._") {
        return None;
    }
    Some(file.to_string())
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(map) => map.iter().find(|(k, _)| k == key).map(|(_, v)| v),
        _ => None,
    }
}

fn get_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    match get(v, key)? {
        Value::String(s) => Some(s),
        _ => None,
    }
}

fn read_manifest(source: &Path, bytes: &[u8]) -> Result<Manifest, Error> {
    let bad = |message: String| Error::Manifest {
        path: source.to_path_buf(),
        message,
    };
    let v = tree::parse(bytes).map_err(|e| Error::Json {
        path: source.to_path_buf(),
        entry: "package.json".into(),
        message: e.to_string(),
    })?;
    let name = get_str(&v, "name").ok_or_else(|| bad("no \"name\"".into()))?;
    let version = get_str(&v, "version").ok_or_else(|| bad("no \"version\"".into()))?;
    let fhir_versions = match get(&v, "fhirVersions") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| match i {
                Value::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let dependencies = match get(&v, "dependencies") {
        Some(Value::Object(map)) => map
            .iter()
            .map(|(id, ver)| match ver {
                Value::String(s) => Ok(Dependency {
                    id: id.clone(),
                    version: s.clone(),
                }),
                _ => Err(bad(format!("dependency {id} has no version string"))),
            })
            .collect::<Result<_, _>>()?,
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(bad("\"dependencies\" is not an object".into())),
    };
    Ok(Manifest {
        name: name.into(),
        version: version.into(),
        fhir_versions,
        canonical: get_str(&v, "canonical").map(str::to_string),
        dependencies,
    })
}

fn depends_on(ig: &Value) -> Vec<Dependency> {
    let Some(Value::Array(items)) = get(ig, "dependsOn") else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|d| {
            Some(Dependency {
                id: get_str(d, "packageId")?.to_string(),
                version: ig_dependency_version(get_str(d, "version")),
            })
        })
        .collect()
}

/// The version an `ImplementationGuide.dependsOn` asks for. The IG
/// Publisher writes `1.1.2-url` when the dependency was declared by URL
/// rather than by package (JP-CLINS 1.5.2 does, for JP Core); the package
/// meant is `1.1.2`. No version at all means whatever is current.
fn ig_dependency_version(version: Option<&str>) -> String {
    match version {
        Some(v) => v.strip_suffix("-url").unwrap_or(v).to_string(),
        None => "current".to_string(),
    }
}

/// The index keys of one resource file.
struct Meta {
    file: String,
    resource_type: String,
    id: String,
    url: Option<String>,
    version: Option<String>,
}

impl Meta {
    fn from_resource(source: &Path, file: &str, v: &Value) -> Result<Meta, Error> {
        let not = |message: &str| Error::NotAResource {
            path: source.to_path_buf(),
            entry: file.to_string(),
            message: message.to_string(),
        };
        Ok(Meta {
            file: file.to_string(),
            resource_type: get_str(v, "resourceType")
                .ok_or_else(|| not("no \"resourceType\""))?
                .to_string(),
            // A definition without an id is still findable by url; its
            // file name stands in as the id.
            id: match get_str(v, "id") {
                Some(id) => id.to_string(),
                None => file.trim_end_matches(".json").to_string(),
            },
            url: get_str(v, "url").map(str::to_string),
            version: get_str(v, "version").map(str::to_string),
        })
    }

    fn into_resource(self, bytes: Vec<u8>) -> PackageResource {
        PackageResource {
            file: self.file,
            resource_type: self.resource_type,
            id: self.id,
            url: self.url,
            version: self.version,
            bytes,
            tree: OnceLock::new(),
        }
    }
}

fn read_index(source: &Path, bytes: &[u8]) -> Result<Vec<Meta>, Error> {
    let bad = |entry: String, message: String| Error::Index {
        path: source.to_path_buf(),
        entry,
        message,
    };
    let v = tree::parse(bytes).map_err(|e| Error::Json {
        path: source.to_path_buf(),
        entry: ".index.json".into(),
        message: e.to_string(),
    })?;
    let Some(Value::Array(files)) = get(&v, "files") else {
        return Err(bad("files".into(), "no \"files\" array".into()));
    };
    files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let file = get_str(f, "filename")
                .ok_or_else(|| bad(format!("files[{i}]"), "no \"filename\"".into()))?;
            let need = |key: &str| {
                get_str(f, key)
                    .map(str::to_string)
                    .ok_or_else(|| bad(file.to_string(), format!("no \"{key}\"")))
            };
            Ok(Meta {
                file: file.to_string(),
                resource_type: need("resourceType")?,
                id: need("id")?,
                url: get_str(f, "url").map(str::to_string),
                version: get_str(f, "version").map(str::to_string),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_top_level_json_files_of_package_count() {
        assert_eq!(
            package_file_name("package/A.json").as_deref(),
            Some("A.json")
        );
        assert_eq!(
            package_file_name("./package/A.json").as_deref(),
            Some("A.json")
        );
        assert_eq!(package_file_name("package/example/A.json"), None);
        assert_eq!(package_file_name("package/README.md"), None);
        assert_eq!(package_file_name("other/A.json"), None);
    }

    #[test]
    fn manifest_needs_name_and_version() {
        let err = read_manifest(Path::new("p"), br#"{"version":"1"}"#).unwrap_err();
        assert!(err.to_string().contains("no \"name\""), "{err}");
        let m = read_manifest(
            Path::new("p"),
            br#"{"name":"a","version":"1","fhirVersions":["4.0.1"],"dependencies":{"b":"2"}}"#,
        )
        .unwrap();
        assert_eq!(m.label(), "a#1");
        assert_eq!(m.fhir_versions, ["4.0.1"]);
        assert_eq!(
            m.dependencies,
            [Dependency {
                id: "b".into(),
                version: "2".into()
            }]
        );
    }

    #[test]
    fn ig_dependency_versions() {
        assert_eq!(ig_dependency_version(Some("1.1.2-url")), "1.1.2");
        assert_eq!(ig_dependency_version(Some("1.1.1")), "1.1.1");
        assert_eq!(ig_dependency_version(None), "current");
    }

    #[test]
    fn index_entry_without_id_is_an_error() {
        let err = read_index(
            Path::new("p"),
            br#"{"index-version":1,"files":[{"filename":"X.json","resourceType":"Patient"}]}"#,
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("X.json"), "{err}");
    }
}
