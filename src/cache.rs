//! A resumable on-disk embedding cache, and embedding through it.
//!
//! Takes paragraph texts and an encoder, gives their [`Embedding`]s while embedding each
//! distinct text at most once: identical paragraphs within a run are embedded once (boiler-
//! plate such as "Decides to remain seized of the matter" recurs hundreds of times), and
//! texts embedded by any earlier run with the same encoder and windowing are read back.
//!
//! Layout: `<dir>/<encoder fingerprint>-o<overlap>-<layout>-<backend>/vectors.bin`, an append-only file of
//! fixed-size records `[sha256(text) 32 bytes][dim x f32 LE][windows u32][tokens u32]`. New
//! vectors are appended and flushed after every chunk, so a killed run loses at most the
//! chunk in flight; a torn last record is cut off when the cache is next opened. Keying by
//! the encoder fingerprint means new weights can never be served stale vectors.

use crate::embed::{embed_texts_with_progress, EmbedError, EmbedOptions, Embedding, Encoder};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("embedding cache {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Embed(#[from] EmbedError),
}

type Key = [u8; 32];

/// Bumped whenever the way vectors are computed changes without the weights changing, so
/// that old caches are never mixed with new vectors. `u1`: unpadded batches (vectors no
/// longer depend on their batch-mates), replacing the padded-batch vectors of `o<n>` caches.
const LAYOUT: &str = "u1";

pub fn text_key(text: &str) -> Key {
    Sha256::digest(text.as_bytes()).into()
}

/// Hit/miss counts of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CacheStats {
    /// Paragraphs asked for.
    pub requested: usize,
    /// Distinct texts among them.
    pub distinct: usize,
    /// Distinct texts found in the cache.
    pub hits: usize,
    /// Distinct texts embedded now.
    pub embedded: usize,
}

impl CacheStats {
    /// Share of paragraphs that needed no forward pass (cache hits and in-run duplicates).
    pub fn hit_rate(&self) -> f64 {
        if self.requested == 0 {
            return 0.0;
        }
        (self.requested - self.embedded) as f64 / self.requested as f64
    }
}

pub struct EmbeddingCache {
    path: PathBuf,
    dim: usize,
    map: HashMap<Key, Embedding>,
    file: std::fs::File,
}

impl EmbeddingCache {
    fn record_len(dim: usize) -> usize {
        32 + dim * 4 + 8
    }

    /// Open (or create) the cache for one encoder and windowing setting under `dir`.
    ///
    /// `backend` names the implementation that computes the vectors (`candle`, `fast`, ...):
    /// backends agree to ~1e-7, not bit for bit, and a cache that mixed them would make a
    /// trained head depend on which backend happened to embed which paragraph first.
    pub fn open(
        dir: &Path,
        fingerprint: &str,
        backend: &str,
        dim: usize,
        window_overlap: usize,
    ) -> Result<Self, CacheError> {
        let sub = dir.join(format!(
            "{}-o{window_overlap}-{LAYOUT}-{backend}",
            &fingerprint[..fingerprint.len().min(32)]
        ));
        let io = |source| CacheError::Io {
            path: sub.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&sub).map_err(io)?;
        let path = sub.join("vectors.bin");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let rec = Self::record_len(dim);
        let whole = bytes.len() / rec * rec;
        if whole != bytes.len() {
            // A run was killed mid-write: drop the torn record.
            file.set_len(whole as u64).map_err(io)?;
            file.seek(std::io::SeekFrom::End(0)).map_err(io)?;
        }
        let mut map = HashMap::with_capacity(whole / rec);
        for chunk in bytes[..whole].chunks_exact(rec) {
            let key: Key = chunk[..32].try_into().expect("32-byte key");
            let vector = chunk[32..32 + dim * 4]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let tail = &chunk[32 + dim * 4..];
            let windows = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as usize;
            let tokens = u32::from_le_bytes([tail[4], tail[5], tail[6], tail[7]]) as usize;
            map.insert(
                key,
                Embedding {
                    vector,
                    windows,
                    tokens,
                },
            );
        }
        Ok(EmbeddingCache {
            path,
            dim,
            map,
            file,
        })
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get(&self, key: &Key) -> Option<&Embedding> {
        self.map.get(key)
    }

    fn append(&mut self, items: &[(Key, Embedding)]) -> Result<(), CacheError> {
        let mut buf = Vec::with_capacity(items.len() * Self::record_len(self.dim));
        for (key, e) in items {
            buf.extend_from_slice(key);
            for v in &e.vector {
                buf.extend_from_slice(&v.to_le_bytes());
            }
            buf.extend_from_slice(&(e.windows as u32).to_le_bytes());
            buf.extend_from_slice(&(e.tokens as u32).to_le_bytes());
        }
        let io = |source| CacheError::Io {
            path: self.path.display().to_string(),
            source,
        };
        self.file.write_all(&buf).map_err(io)?;
        self.file.flush().map_err(io)?;
        for (key, e) in items {
            self.map.insert(*key, e.clone());
        }
        Ok(())
    }
}

/// Embed `texts` (in input order), embedding each distinct text once and reusing `cache`
/// when given. Misses are embedded in chunks of `chunk` texts, each appended to the cache as
/// soon as it is done. `progress(done, total)` counts distinct texts.
pub fn embed_cached<S: AsRef<str> + Sync>(
    encoder: &dyn Encoder,
    texts: &[S],
    opts: &EmbedOptions,
    mut cache: Option<&mut EmbeddingCache>,
    chunk: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<(Vec<Embedding>, CacheStats), CacheError> {
    let keys: Vec<Key> = texts.iter().map(|t| text_key(t.as_ref())).collect();
    // Distinct texts in first-seen order (deterministic).
    let mut first: HashMap<Key, usize> = HashMap::new();
    let mut distinct: Vec<usize> = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        first.entry(*k).or_insert_with(|| {
            distinct.push(i);
            i
        });
    }
    let mut found: HashMap<Key, Embedding> = HashMap::new();
    let mut missing: Vec<usize> = Vec::new();
    for &i in &distinct {
        match cache.as_deref().and_then(|c| c.get(&keys[i])) {
            Some(e) => {
                found.insert(keys[i], e.clone());
            }
            None => missing.push(i),
        }
    }
    let stats = CacheStats {
        requested: texts.len(),
        distinct: distinct.len(),
        hits: distinct.len() - missing.len(),
        embedded: missing.len(),
    };
    let total = distinct.len();
    let mut done = stats.hits;
    progress(done, total);
    for part in missing.chunks(chunk.max(1)) {
        let batch: Vec<&str> = part.iter().map(|&i| texts[i].as_ref()).collect();
        let vectors = embed_texts_with_progress(encoder, &batch, opts, &|_, _| {})?;
        let items: Vec<(Key, Embedding)> = part.iter().map(|&i| keys[i]).zip(vectors).collect();
        if let Some(c) = cache.as_deref_mut() {
            c.append(&items)?;
        }
        found.extend(items);
        done += part.len();
        progress(done, total);
    }
    let out = keys
        .iter()
        .map(|k| {
            found
                .get(k)
                .cloned()
                .expect("every distinct text was found or embedded")
        })
        .collect();
    Ok((out, stats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::{cosine, embed_texts, tiny};

    fn texts() -> Vec<String> {
        vec![
            "decides to remain seized of the matter".into(),
            "the security council calls upon member states".into(),
            "decides to remain seized of the matter".into(),
            "human rights of all victims".into(),
        ]
    }

    #[test]
    fn duplicates_are_embedded_once_and_cache_resumes_across_opens() {
        let enc = tiny::encoder(16);
        let dir = tempfile::tempdir().unwrap();
        let opts = EmbedOptions::default();
        let info = enc.info().clone();
        let mut cache =
            EmbeddingCache::open(dir.path(), &info.fingerprint, "test", info.dim, 32).unwrap();
        let (first, stats) =
            embed_cached(&enc, &texts(), &opts, Some(&mut cache), 2, &|_, _| {}).unwrap();
        assert_eq!(
            (stats.requested, stats.distinct, stats.hits, stats.embedded),
            (4, 3, 0, 3)
        );
        assert_eq!(first[0], first[2]);
        let plain = embed_texts(&enc, &texts(), &opts).unwrap();
        for (a, b) in first.iter().zip(&plain) {
            assert!(cosine(&a.vector, &b.vector) > 0.99999);
        }
        drop(cache);
        let mut cache =
            EmbeddingCache::open(dir.path(), &info.fingerprint, "test", info.dim, 32).unwrap();
        assert_eq!(cache.len(), 3);
        let (second, stats) =
            embed_cached(&enc, &texts(), &opts, Some(&mut cache), 2, &|_, _| {}).unwrap();
        assert_eq!((stats.hits, stats.embedded), (3, 0));
        assert_eq!(stats.hit_rate(), 1.0);
        assert_eq!(first, second, "cached vectors come back bit for bit");
    }

    #[test]
    fn torn_last_record_is_dropped_on_open() {
        let enc = tiny::encoder(16);
        let dir = tempfile::tempdir().unwrap();
        let info = enc.info().clone();
        let mut cache =
            EmbeddingCache::open(dir.path(), &info.fingerprint, "test", info.dim, 32).unwrap();
        embed_cached(
            &enc,
            &texts(),
            &EmbedOptions::default(),
            Some(&mut cache),
            8,
            &|_, _| {},
        )
        .unwrap();
        let path = cache.path.clone();
        drop(cache);
        // Simulate a kill in the middle of writing a record.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(&[1, 2, 3, 4, 5]).unwrap();
        drop(f);
        let cache =
            EmbeddingCache::open(dir.path(), &info.fingerprint, "test", info.dim, 32).unwrap();
        assert_eq!(cache.len(), 3);
        let rec = EmbeddingCache::record_len(info.dim) as u64;
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 3 * rec);
    }

    #[test]
    fn another_encoder_gets_another_cache() {
        let dir = tempfile::tempdir().unwrap();
        let a = EmbeddingCache::open(dir.path(), "aaaa", "fast", 4, 32).unwrap();
        let b = EmbeddingCache::open(dir.path(), "bbbb", "fast", 4, 32).unwrap();
        assert_ne!(a.path, b.path);
    }

    /// Regression: candle and the fast path shared one cache (same weights, same
    /// fingerprint), so vectors from either could end up in one training set and the head
    /// no longer reproduced byte for byte.
    #[test]
    fn backends_sharing_a_fingerprint_get_separate_caches() {
        let dir = tempfile::tempdir().unwrap();
        let a = EmbeddingCache::open(dir.path(), "aaaa", "candle", 4, 32).unwrap();
        let b = EmbeddingCache::open(dir.path(), "aaaa", "fast", 4, 32).unwrap();
        assert_ne!(a.path, b.path);
    }
}
