//! `broadsheet deploy` against a real S3 server (Garage, started by the
//! test): every object read back over S3 has the bytes and headers `serve`
//! sends; a redeploy uploads only what changed and deletes what is no
//! longer published; a deploy killed midway finishes when run again; a
//! prefix holding someone else's objects is refused.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use futures_util::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, ObjectStore, ObjectStoreExt, PutPayload};
use sha2::Digest;

use crate::fixture::{client, files_in, Site};
use crate::garage::{runtime, Garage, BUCKET};

const MANIFEST: &str = ".broadsheet-deploy.json";

/// One object read back: its bytes and the headers the store keeps.
#[derive(Debug, Clone, PartialEq)]
struct Object {
    bytes: Vec<u8>,
    content_type: Option<String>,
    cache_control: Option<String>,
    content_encoding: Option<String>,
    hash: Option<String>,
}

fn deploy_command(site: &Site, garage: &Garage, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_broadsheet"));
    command
        .current_dir(site.root())
        .arg("deploy")
        .args(args)
        .env("RUST_LOG", "warn")
        .envs(garage.env());
    command
}

fn deploy(site: &Site, garage: &Garage, args: &[&str]) -> Output {
    let output = deploy_command(site, garage, args)
        .output()
        .expect("run broadsheet deploy");
    assert!(
        output.status.success(),
        "deploy {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The number before `label` in the summary line (`3 objects uploaded`).
fn count(output: &Output, label: &str) -> usize {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let before = line
        .split(label)
        .next()
        .filter(|before| before.len() < line.len())
        .unwrap_or_else(|| panic!("no `{label}` in {line}"));
    before
        .rsplit([' ', '('])
        .find(|word| !word.is_empty())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count before `{label}` in {line}"))
}

/// Every object under `prefix`, by name under it, read back over S3.
fn objects(store: &dyn ObjectStore, prefix: &str) -> BTreeMap<String, Object> {
    runtime().block_on(async {
        let prefix_path = ObjectPath::from(prefix);
        let listed: Vec<_> = store
            .list((!prefix.is_empty()).then_some(&prefix_path))
            .try_collect()
            .await
            .expect("list");
        let mut objects = BTreeMap::new();
        for meta in listed {
            let result = store.get(&meta.location).await.expect("get");
            let text = |attribute: &Attribute| {
                result
                    .attributes
                    .get(attribute)
                    .map(|v| v.as_ref().to_string())
            };
            let object = Object {
                content_type: text(&Attribute::ContentType),
                cache_control: text(&Attribute::CacheControl),
                content_encoding: text(&Attribute::ContentEncoding),
                hash: text(&Attribute::Metadata("broadsheetsha256".into())),
                bytes: Vec::new(),
            };
            let bytes = result.bytes().await.expect("body").to_vec();
            let skip = if prefix.is_empty() {
                0
            } else {
                prefix.len() + 1
            };
            let name = meta.location.as_ref()[skip..].to_string();
            objects.insert(name, Object { bytes, ..object });
        }
        objects
    })
}

/// The files a fresh export of `site` writes, by name (the marker left out).
fn exported(site: &Site) -> BTreeMap<String, Vec<u8>> {
    let dir = site.export();
    files_in(&dir)
        .into_iter()
        .filter(|(path, _)| path != Path::new(".broadsheet-export"))
        .map(|(path, bytes)| (path.to_string_lossy().into_owned(), bytes))
        .collect()
}

fn without_manifest(objects: &BTreeMap<String, Object>) -> BTreeMap<String, Vec<u8>> {
    objects
        .iter()
        .filter(|(name, _)| name.as_str() != MANIFEST)
        .map(|(name, object)| (name.clone(), object.bytes.clone()))
        .collect()
}

/// The URL path and `Accept-Encoding` under which `serve` sends the bytes
/// of the object `name`.
fn request_for(name: &str) -> (String, &'static str) {
    let (file, coding) = if let Some(file) = name.strip_suffix(".gz") {
        (file, "gzip")
    } else if let Some(file) = name.strip_suffix(".br") {
        (file, "br")
    } else {
        (name, "identity")
    };
    let path = match file.strip_suffix("index.html") {
        Some(directory) => format!("/{directory}"),
        None => format!("/{file}"),
    };
    (path, coding)
}

#[test]
fn every_deployed_object_has_the_bytes_and_headers_serve_sends() {
    let garage = Garage::start();
    let site = Site::bundled();
    let output = deploy(&site, &garage, &[&format!("s3://{BUCKET}/news")]);
    let total = count(&output, " objects uploaded");
    assert_eq!(count(&output, " kept"), 0);

    let store = garage.store();
    let deployed = objects(&*store, "news");
    assert!(deployed.contains_key(MANIFEST), "the manifest is written");
    let files = exported(&site);
    assert_eq!(
        without_manifest(&deployed),
        files,
        "the objects are the files export writes"
    );
    assert_eq!(total, files.len());

    let server = site.serve();
    let http = client();
    let requests = runtime();
    for (name, object) in deployed
        .iter()
        .filter(|(name, _)| name.as_str() != MANIFEST)
    {
        let (path, coding) = request_for(name);
        let url = format!("http://{}{path}", server.local_addr());
        let response = requests
            .block_on(http.get(&url).header("accept-encoding", coding).send())
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert_eq!(response.status(), 200, "{url}");
        let header = |field: &str| {
            response
                .headers()
                .get(field)
                .map(|v| v.to_str().expect("ASCII").to_string())
        };
        assert_eq!(object.content_type, header("content-type"), "{name}");
        assert_eq!(object.cache_control, header("cache-control"), "{name}");
        assert_eq!(
            object.content_encoding,
            header("content-encoding"),
            "{name}: identity at the path, the coding on a sibling"
        );
        let body = requests.block_on(response.bytes()).expect("body");
        assert_eq!(object.bytes, body.to_vec(), "{name}: the bytes serve sends");
        let hash: String = sha2::Sha256::digest(&object.bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(object.hash.as_deref(), Some(hash.as_str()), "{name}");
    }
    server.shutdown();
    server.join();
}

#[test]
fn a_redeploy_uploads_only_what_changed_and_deletes_what_is_gone() {
    let garage = Garage::start();
    let site = Site::bundled();
    let url = format!("s3://{BUCKET}/");
    deploy(&site, &garage, &[&url]);
    let store = garage.store();
    let before = exported(&site);

    // Nothing changed: nothing uploaded, nothing checked one by one.
    let again = deploy(&site, &garage, &[&url]);
    assert_eq!(count(&again, " objects uploaded"), 0);
    assert_eq!(count(&again, " checked by HEAD"), 0);

    site.append(
        "content/opinion/china-russia-energy-cooperation.md",
        "\nA sentence added by the test.\n",
    );
    let after = exported(&site);
    let changed: BTreeSet<String> = after
        .iter()
        .filter(|(name, bytes)| before.get(*name) != Some(bytes))
        .map(|(name, _)| name.clone())
        .collect();
    assert!(changed.contains("opinion/china-russia-energy-cooperation/index.html"));
    assert!(changed.len() < after.len() / 2, "{changed:?}");

    let plan = deploy(&site, &garage, &[&url, "--dry-run"]);
    let planned: BTreeSet<String> = String::from_utf8_lossy(&plan.stdout)
        .lines()
        .filter_map(|line| line.strip_prefix("upload "))
        .map(|rest| rest.split(' ').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        planned, changed,
        "the dry run plans exactly the changed objects"
    );
    assert_eq!(
        without_manifest(&objects(&*store, "")).len(),
        before.len(),
        "a dry run changes nothing"
    );

    let output = deploy(&site, &garage, &[&url]);
    assert_eq!(count(&output, " objects uploaded"), changed.len());
    assert_eq!(count(&output, " kept"), after.len() - changed.len());
    assert_eq!(count(&output, " checked by HEAD"), 0);
    assert_eq!(without_manifest(&objects(&*store, "")), after);

    std::fs::remove_file(site.path("content/hi-tech/future-air-taxi-unveiled.md"))
        .expect("remove the article");
    let output = deploy(&site, &garage, &[&url]);
    assert!(count(&output, " deleted") > 0);
    let remaining = objects(&*store, "");
    assert!(!remaining.contains_key("hi-tech/future-air-taxi-unveiled/index.html"));
    assert_eq!(without_manifest(&remaining), exported(&site));
}

#[test]
fn a_deploy_killed_midway_finishes_when_run_again() {
    let garage = Garage::start();
    let site = Site::bundled();
    site.append("config.toml", "\n[deploy]\nconcurrency = 1\n");
    let url = format!("s3://{BUCKET}/killed");
    let mut child = deploy_command(&site, &garage, &[&url])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("run deploy");
    let stderr = child.stderr.take().expect("stderr piped");
    // The feeds' phase starts once every article's page and file is up:
    // kill the deploy there, in the middle of uploading the feeds.
    let mut seen = Vec::new();
    for line in std::io::BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
    {
        seen.push(line.clone());
        if line.starts_with("deploy: feeds and lists: ") {
            break;
        }
    }
    child.kill().expect("kill deploy");
    let status = child.wait().expect("wait");
    assert!(!status.success(), "killed before the end: {seen:?}");

    let store = garage.store();
    let present = without_manifest(&objects(&*store, "killed"));
    let files = exported(&site);
    assert!(
        !present.is_empty() && present.len() < files.len(),
        "the deploy was stopped midway: {} of {} objects",
        present.len(),
        files.len()
    );
    assert!(
        present.contains_key("opinion/china-russia-energy-cooperation/index.html"),
        "articles' pages go first: {present:?}"
    );

    let output = deploy(&site, &garage, &[&url]);
    assert_eq!(
        count(&output, " kept"),
        present.len(),
        "what the killed deploy uploaded is checked and kept"
    );
    assert_eq!(count(&output, " checked by HEAD"), present.len());
    assert_eq!(
        count(&output, " objects uploaded"),
        files.len() - present.len()
    );
    assert_eq!(without_manifest(&objects(&*store, "killed")), files);
}

#[test]
fn a_prefix_holding_objects_no_deploy_put_there_is_refused() {
    let garage = Garage::start();
    let store = garage.store();
    let theirs = ObjectPath::from("shared/theirs.txt");
    runtime()
        .block_on(store.put(&theirs, PutPayload::from_static(b"not ours")))
        .expect("put");
    let site = Site::bundled();
    let output = deploy_command(&site, &garage, &[&format!("s3://{BUCKET}/shared")])
        .output()
        .expect("run deploy");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "refusing to deploy to a prefix that holds objects but no .broadsheet-deploy.json"
        ),
        "{stderr}"
    );
    assert_eq!(
        objects(&*store, "shared").keys().collect::<Vec<_>>(),
        ["theirs.txt"]
    );
}

#[test]
fn objects_named_in_any_script_round_trip_through_the_listing() {
    let garage = Garage::start();
    let site = Site::bundled();
    let article = "content/opinion/china-russia-energy-cooperation.md";
    let text =
        site.read(article)
            .replacen("tags = [", "tags = [\"中俄关系\", \"Économie & co\", ", 1);
    site.write(article, &text);
    let url = format!("s3://{BUCKET}/intl");
    deploy(&site, &garage, &[&url]);
    let files = exported(&site);
    assert!(
        files.contains_key("tags/中俄关系/index.html"),
        "{:?}",
        files.keys()
    );
    let store = garage.store();
    let deployed = without_manifest(&objects(&*store, "intl"));
    let names = |map: &BTreeMap<String, Vec<u8>>| map.keys().cloned().collect::<BTreeSet<_>>();
    assert_eq!(
        names(&deployed)
            .symmetric_difference(&names(&files))
            .collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "object names are the export's file names"
    );
    assert!(deployed == files, "objects hold the export's bytes");

    // Listed back under the same names: nothing to upload, delete or check.
    let again = deploy(&site, &garage, &[&url]);
    assert_eq!(count(&again, " objects uploaded"), 0);
    assert_eq!(count(&again, " deleted"), 0);
    assert_eq!(count(&again, " checked by HEAD"), 0);
}

#[test]
fn a_site_deployed_under_another_sites_prefix_is_left_alone_by_it() {
    let garage = Garage::start();
    let outer = Site::bundled();
    let inner = Site::bundled();
    deploy(&outer, &garage, &[&format!("s3://{BUCKET}/outer")]);
    // The inner site's prefix is empty: it claims it.
    deploy(&inner, &garage, &[&format!("s3://{BUCKET}/outer/inner")]);
    let again = deploy(&outer, &garage, &[&format!("s3://{BUCKET}/outer")]);
    assert_eq!(
        count(&again, " deleted"),
        0,
        "the inner site is not the outer's to delete"
    );
    let store = garage.store();
    assert_eq!(
        without_manifest(&objects(&*store, "outer/inner")),
        exported(&inner)
    );
}
