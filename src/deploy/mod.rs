//! `broadsheet deploy <URL>`: the built set published to an object store,
//! the same files `export` writes (`crate::static_files`), each object with
//! the headers `serve` sends: `Content-Type`, `Cache-Control`, and
//! `Content-Encoding` on the `.gz`/`.br` siblings. The object at a path is
//! always the identity bytes, so a client that gets it without a CDN rule
//! never gets an encoding it did not ask for; a CDN picks a sibling only
//! for a client whose `Accept-Encoding` takes it (README, "Deploying").
//!
//! Incremental: each object carries the SHA-256 of its bytes in its
//! metadata (`broadsheetsha256`; Azure allows only identifier characters
//! in metadata names, and S3 lowercases them), and the manifest
//! (`manifest.rs`) records it with the headers, so only objects whose bytes
//! or headers changed are uploaded; objects no longer published are
//! deleted. Uploads go in phases (`plan.rs`: articles, archives, feeds),
//! deletions last and the manifest after everything, so no feed links to
//! an object not there yet, and a deploy stopped at any point is finished
//! by running it again.
//!
//! - `store`: opening the store a URL names (S3, GCS, Azure, local files)
//! - `plan`: pure, what to upload, keep, check and delete
//! - `manifest`: what the last deploy recorded, and the prefix's claim
//! - `progress`: counts and bytes on stderr

mod manifest;
mod plan;
mod progress;
mod store;

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, Attributes, GetOptions, ObjectStore, ObjectStoreExt, PutOptions, PutPayload,
};

use self::manifest::{Manifest, ManifestEntry, ObjectState, MANIFEST};
use self::plan::{Listed, Phase, WantedObject};
use self::progress::Progress;
use crate::build::BuiltSet;
use crate::config::DeployConfig;

/// The metadata name under which each object carries the SHA-256 of its bytes.
const HASH_METADATA: &str = "broadsheetsha256";

/// How to deploy.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeployOptions {
    /// Work out and report the plan; change nothing in the store.
    pub dry_run: bool,
}

/// What a deploy did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploySummary {
    /// Objects uploaded, with their sizes, in upload order.
    pub uploaded: Vec<(String, u64)>,
    /// Objects already in the store as published: not uploaded.
    pub kept: usize,
    /// Their bytes.
    pub kept_bytes: u64,
    /// Objects deleted (no longer published), with their sizes.
    pub deleted: Vec<(String, u64)>,
    /// Of the objects present, how many the manifest could not vouch for
    /// and were checked with a `HEAD` request.
    pub checked: usize,
}

impl DeploySummary {
    /// Bytes uploaded.
    pub fn uploaded_bytes(&self) -> u64 {
        self.uploaded.iter().map(|(_, size)| size).sum()
    }

    /// Bytes of the objects deleted.
    pub fn deleted_bytes(&self) -> u64 {
        self.deleted.iter().map(|(_, size)| size).sum()
    }
}

/// Why a deploy failed. Whatever was uploaded before stays (it is what the
/// next deploy would upload), nothing was deleted unless every upload went
/// through, and running the deploy again finishes it.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The URL or the settings are wrong.
    #[error("{0}")]
    Target(String),
    /// The store refused or failed a request, after the retries.
    #[error("{target}: {what}: {source}")]
    Store {
        /// The deploy URL.
        target: String,
        /// What was being done.
        what: String,
        /// What the store (or the connection) said.
        source: object_store::Error,
    },
    /// The prefix holds objects that no deploy put there.
    #[error("{0}: refusing to deploy to a prefix that holds objects but no {MANIFEST} (a deploy deletes every object it did not publish): deploy to an empty prefix, or empty this one")]
    NotOurs(String),
    /// The runtime for the store's client could not start.
    #[error("cannot start the deploy's runtime: {0}")]
    Runtime(std::io::Error),
}

/// Publishes `built` to the store `url` names, with `settings` (`[deploy]`).
pub fn deploy(
    built: &BuiltSet,
    url: &str,
    settings: &DeployConfig,
    options: DeployOptions,
) -> Result<DeploySummary, DeployError> {
    // object_store's client is reqwest with rustls and no provider of its
    // own: ring, the one the WebSub hub uses. Set once per process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let target = store::open(url, settings).map_err(DeployError::Target)?;
    let wanted = plan::wanted_objects(built);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DeployError::Runtime)?;
    let deploy = Deploy {
        target: &target,
        url,
        wanted: &wanted,
        concurrency: settings.concurrency.get(),
    };
    runtime.block_on(deploy.run(options))
}

/// One deploy under way.
struct Deploy<'a> {
    target: &'a store::Target,
    url: &'a str,
    wanted: &'a [WantedObject],
    concurrency: usize,
}

impl Deploy<'_> {
    fn store(&self) -> &dyn ObjectStore {
        &*self.target.store
    }

    fn error(&self, what: impl Into<String>) -> impl FnOnce(object_store::Error) -> DeployError {
        let target = self.url.to_string();
        let what = what.into();
        move |source| DeployError::Store {
            target,
            what,
            source,
        }
    }

    /// The object key of `name`: the prefix and the name as they are, in
    /// UTF-8 (`tags/économie/index.html`), which is what a store decodes a
    /// request's percent-encoded path to. `run` checks every name first;
    /// a name that is no valid key (never one of ours) would be
    /// percent-encoded, as object_store does by default.
    fn key(&self, name: &str) -> ObjectPath {
        let prefix = self.target.prefix.as_ref();
        let full = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}/{name}")
        };
        ObjectPath::parse(&full).unwrap_or_else(|_| {
            name.split('/')
                .fold(self.target.prefix.clone(), |path, part| path.join(part))
        })
    }

    async fn run(&self, options: DeployOptions) -> Result<DeploySummary, DeployError> {
        if let Some((object, error)) = self
            .wanted
            .iter()
            .find_map(|object| ObjectPath::parse(&object.name).err().map(|e| (object, e)))
        {
            return Err(DeployError::Target(format!(
                "{}: cannot be an object key: {error}",
                object.name
            )));
        }
        let manifest_key = self.key(MANIFEST);
        let manifest = self.read_manifest(&manifest_key).await?;
        let listed = self.list().await?;
        let claimed = manifest.is_some();
        if !claimed && !listed.is_empty() {
            return Err(DeployError::NotOurs(self.url.to_string()));
        }
        let manifest = manifest.unwrap_or_else(Manifest::new);
        let mut plan = plan::plan(self.wanted, &listed, &manifest);

        let checked = std::mem::take(&mut plan.check);
        let states: Vec<_> = stream::iter(checked.iter().copied())
            .map(|index| async move { (index, self.head(&self.wanted[index].name).await) })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        for (index, state) in states {
            match state? {
                Some((state, e_tag)) if state == self.wanted[index].state => {
                    plan.keep.push((index, e_tag));
                }
                _ => plan.upload.push(index),
            }
        }
        plan.upload
            .sort_by_key(|&index| (self.wanted[index].phase, index));
        plan.keep.sort();

        let mut summary = DeploySummary {
            uploaded: plan
                .upload
                .iter()
                .map(|&i| (self.wanted[i].name.clone(), self.wanted[i].state.size))
                .collect(),
            kept: plan.keep.len(),
            kept_bytes: plan
                .keep
                .iter()
                .map(|(i, _)| self.wanted[*i].state.size)
                .sum(),
            deleted: plan.delete.clone(),
            checked: checked.len(),
        };
        if options.dry_run {
            return Ok(summary);
        }
        if !claimed {
            // The prefix is empty: mark it as ours before the first upload,
            // so that a deploy killed midway can be run again.
            self.put_manifest(&manifest_key, &Manifest::new()).await?;
        }

        let mut recorded = Manifest::new();
        for (index, e_tag) in &plan.keep {
            let object = &self.wanted[*index];
            recorded.objects.insert(
                object.name.clone(),
                ManifestEntry {
                    state: object.state.clone(),
                    e_tag: e_tag.clone(),
                },
            );
        }
        for phase in Phase::ALL {
            let indexes: Vec<usize> = plan
                .upload
                .iter()
                .copied()
                .filter(|&i| self.wanted[i].phase == phase)
                .collect();
            if indexes.is_empty() {
                continue;
            }
            let bytes = indexes.iter().map(|&i| self.wanted[i].state.size).sum();
            let mut progress = Progress::start(phase.label(), indexes.len(), bytes);
            let mut uploads = stream::iter(indexes)
                .map(|index| async move { (index, self.put(&self.wanted[index]).await) })
                .buffer_unordered(self.concurrency);
            while let Some((index, result)) = uploads.next().await {
                let object = &self.wanted[index];
                let e_tag = result.map_err(self.error(format!("upload {}", object.name)))?;
                progress.advance(object.state.size);
                recorded.objects.insert(
                    object.name.clone(),
                    ManifestEntry {
                        state: object.state.clone(),
                        e_tag,
                    },
                );
            }
            progress.finish();
        }

        if !plan.delete.is_empty() {
            let mut progress =
                Progress::start("deletions", plan.delete.len(), summary.deleted_bytes());
            let mut deletions = stream::iter(plan.delete.iter())
                .map(|(name, size)| async move {
                    let result = match self.store().delete(&self.key(name)).await {
                        Err(object_store::Error::NotFound { .. }) => Ok(()),
                        other => other,
                    };
                    (name, *size, result)
                })
                .buffer_unordered(self.concurrency);
            while let Some((name, size, result)) = deletions.next().await {
                result.map_err(self.error(format!("delete {name}")))?;
                progress.advance(size);
            }
            progress.finish();
        }
        self.put_manifest(&manifest_key, &recorded).await?;
        summary.uploaded.shrink_to_fit();
        Ok(summary)
    }

    /// The last deploy's manifest; `None` when there is none.
    async fn read_manifest(&self, key: &ObjectPath) -> Result<Option<Manifest>, DeployError> {
        let what = format!("read {MANIFEST}");
        match self.store().get(key).await {
            // Memory is bounded: a manifest records each object in well under
            // a kilobyte; a larger one is not ours to trust (every object is
            // then checked with a `HEAD` request instead).
            Ok(result) if result.meta.size > 1024 * (self.wanted.len() as u64 + 1024) => {
                tracing::warn!(
                    size = result.meta.size,
                    "{MANIFEST} is larger than any deploy of this site writes: ignored"
                );
                Ok(Some(Manifest::new()))
            }
            Ok(result) => {
                let bytes = result.bytes().await.map_err(self.error(what))?;
                Ok(Some(Manifest::parse(&bytes)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(self.error(what)(error)),
        }
    }

    async fn put_manifest(&self, key: &ObjectPath, manifest: &Manifest) -> Result<(), DeployError> {
        let mut attributes = Attributes::new();
        if self.target.keeps_headers {
            attributes.insert(Attribute::ContentType, "application/json".into());
            attributes.insert(Attribute::CacheControl, "no-store".into());
        }
        let options = PutOptions {
            attributes,
            ..PutOptions::default()
        };
        self.store()
            .put_opts(key, PutPayload::from(manifest.to_bytes()), options)
            .await
            .map(|_| ())
            .map_err(self.error(format!("write {MANIFEST}")))
    }

    /// Every object under the prefix but the manifest, by name under it.
    async fn list(&self) -> Result<BTreeMap<String, Listed>, DeployError> {
        let prefix = self.target.prefix.as_ref();
        let prefix_arg = (!prefix.is_empty()).then_some(&self.target.prefix);
        let objects: Vec<_> = self
            .store()
            .list(prefix_arg)
            .try_collect()
            .await
            .map_err(self.error("list the objects"))?;
        // Another deploy's prefix nested under this one (its manifest below
        // the prefix's root) is another site: none of its objects is listed,
        // so none is deleted.
        let nested_sites: Vec<String> = objects
            .iter()
            .filter_map(|meta| {
                under(prefix, meta.location.as_ref())?
                    .strip_suffix(MANIFEST)
                    .filter(|dir| dir.ends_with('/'))
                    .map(str::to_string)
            })
            .collect();
        Ok(objects
            .into_iter()
            .filter(|meta| {
                let name = meta.location.as_ref();
                let name = name
                    .strip_prefix(prefix)
                    .unwrap_or(name)
                    .trim_start_matches('/');
                !nested_sites
                    .iter()
                    .any(|dir| name.starts_with(dir.as_str()))
            })
            .filter_map(|meta| {
                let name = under(prefix, meta.location.as_ref())?;
                (name != MANIFEST).then(|| {
                    (
                        name.to_string(),
                        Listed {
                            size: meta.size,
                            e_tag: meta.e_tag,
                        },
                    )
                })
            })
            .collect())
    }

    /// What the object `name` holds by its headers and metadata, with its
    /// `ETag`; `None` when it is gone or carries no hash (put there by a
    /// store that keeps no metadata, or by someone else).
    async fn head(&self, name: &str) -> Result<Option<(ObjectState, Option<String>)>, DeployError> {
        let options = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        let result = match self.store().get_opts(&self.key(name), options).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(error) => return Err(self.error(format!("check {name}"))(error)),
        };
        let text = |attribute: &Attribute| {
            result
                .attributes
                .get(attribute)
                .map(|value| value.as_ref().to_string())
        };
        let Some(sha256) = text(&Attribute::Metadata(HASH_METADATA.into())) else {
            return Ok(None);
        };
        let state = ObjectState {
            sha256,
            size: result.meta.size,
            content_type: text(&Attribute::ContentType).unwrap_or_default(),
            cache_control: text(&Attribute::CacheControl).unwrap_or_default(),
            content_encoding: text(&Attribute::ContentEncoding),
        };
        Ok(Some((state, result.meta.e_tag.clone())))
    }

    /// Uploads one object with its headers and hash; returns the store's `ETag`.
    async fn put(&self, object: &WantedObject) -> Result<Option<String>, object_store::Error> {
        let mut attributes = Attributes::new();
        if self.target.keeps_headers {
            let state = &object.state;
            attributes.insert(Attribute::ContentType, state.content_type.clone().into());
            attributes.insert(Attribute::CacheControl, state.cache_control.clone().into());
            if let Some(encoding) = &state.content_encoding {
                attributes.insert(Attribute::ContentEncoding, encoding.clone().into());
            }
            attributes.insert(
                Attribute::Metadata(HASH_METADATA.into()),
                state.sha256.clone().into(),
            );
        }
        let options = PutOptions {
            attributes,
            ..PutOptions::default()
        };
        let result = self
            .store()
            .put_opts(
                &self.key(&object.name),
                PutPayload::from(object.body.clone()),
                options,
            )
            .await?;
        Ok(result.e_tag)
    }
}

/// `name`, an object's full key, as a name under `prefix` (all of it when
/// there is no prefix); `None` for a key outside it.
fn under<'a>(prefix: &str, name: &'a str) -> Option<&'a str> {
    if prefix.is_empty() {
        Some(name)
    } else {
        name.strip_prefix(prefix)?.strip_prefix('/')
    }
}
