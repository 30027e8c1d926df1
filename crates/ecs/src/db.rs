//! Typed reads and compare-and-swap updates of records in the store.

use serde::Serialize;
use serde::de::DeserializeOwned;

use dockyard_aws::ApiError;
use dockyard_store::{Compare, Op, Revision, Store, Txn};

use crate::error::{corrupt, server, store as store_err};
use crate::model::{decode, encode};

/// A record and the revision it was read at.
pub(crate) struct Versioned<T> {
    pub value: T,
    pub mod_revision: Revision,
}

pub(crate) fn get<T: DeserializeOwned>(
    store: &dyn Store,
    key: &str,
) -> Result<Option<Versioned<T>>, ApiError> {
    let Some(kv) = store.get(key).map_err(store_err)? else {
        return Ok(None);
    };
    let value = decode(&kv.value, key).map_err(corrupt)?;
    Ok(Some(Versioned {
        value,
        mod_revision: kv.mod_revision,
    }))
}

/// Every record under `prefix`, in key order.
pub(crate) fn list<T: DeserializeOwned>(
    store: &dyn Store,
    prefix: &str,
) -> Result<Vec<Versioned<T>>, ApiError> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let (kvs, _) = store
            .range(prefix, after.as_deref(), 1000)
            .map_err(store_err)?;
        let done = kvs.len() < 1000;
        for kv in &kvs {
            out.push(Versioned {
                value: decode(&kv.value, &kv.key).map_err(corrupt)?,
                mod_revision: kv.mod_revision,
            });
        }
        after = kvs.last().map(|kv| kv.key.clone());
        if done || after.is_none() {
            return Ok(out);
        }
    }
}

/// Keys under `prefix` (values left undecoded).
pub(crate) fn keys(store: &dyn Store, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, ApiError> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let (kvs, _) = store
            .range(prefix, after.as_deref(), 1000)
            .map_err(store_err)?;
        let done = kvs.len() < 1000;
        after = kvs.last().map(|kv| kv.key.clone());
        out.extend(kvs.into_iter().map(|kv| (kv.key, kv.value)));
        if done || after.is_none() {
            return Ok(out);
        }
    }
}

/// Applies `f` to the record at `key` and writes it back if nothing
/// changed it meanwhile, retrying otherwise. `missing` is the error when
/// there is no record. `f` may add ops to the same transaction.
pub(crate) fn update<T, F>(
    store: &dyn Store,
    key: &str,
    missing: impl Fn() -> ApiError,
    f: F,
) -> Result<T, ApiError>
where
    T: Serialize + DeserializeOwned,
    F: FnMut(&mut T, &mut Vec<Op>) -> Result<(), ApiError>,
{
    update_at(store, key, missing, f).map(|v| v.value)
}

/// [`update`], also giving the revision the write committed at.
pub(crate) fn update_at<T, F>(
    store: &dyn Store,
    key: &str,
    missing: impl Fn() -> ApiError,
    mut f: F,
) -> Result<Versioned<T>, ApiError>
where
    T: Serialize + DeserializeOwned,
    F: FnMut(&mut T, &mut Vec<Op>) -> Result<(), ApiError>,
{
    for _ in 0..64 {
        let Some(cur) = get::<T>(store, key)? else {
            return Err(missing());
        };
        let mut value = cur.value;
        let mut ops = Vec::new();
        f(&mut value, &mut ops)?;
        ops.insert(
            0,
            Op::Put {
                key: key.to_string(),
                value: encode(&value),
            },
        );
        let r = store
            .txn(Txn {
                compares: vec![Compare::ModRevision(key.to_string(), cur.mod_revision)],
                success: ops,
                failure: vec![],
            })
            .map_err(store_err)?;
        if r.succeeded {
            return Ok(Versioned {
                value,
                mod_revision: r.revision,
            });
        }
    }
    Err(server(format!("record {key} kept changing; try again")))
}

pub(crate) fn put(key: &str, value: &impl Serialize) -> Op {
    Op::Put {
        key: key.to_string(),
        value: encode(value),
    }
}
