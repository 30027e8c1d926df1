//! AWS Certificate Manager for Dockyard: certificates an operator imports
//! (`aws acm import-certificate`) for HTTPS listeners to serve. JSON 1.1,
//! target prefix `CertificateManager`, signing name `acm`.
//!
//! Only imported certificates: Dockyard cannot validate domains, so it
//! issues none (`RequestCertificate` is refused). Records are in the state
//! store under `acm/certs/`, private keys included (the store file is
//! root's alone); the load balancer glue reads them from there.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod model;

use std::sync::Arc;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use dockyard_aws::ApiError;
use dockyard_aws::router::{CallContext, JsonService};
use dockyard_store::{Store, StoreExt};

pub use model::{CertificateRecord, PREFIX, Parsed};

/// ACM's target prefix.
pub const TARGET_PREFIX: &str = "CertificateManager";

/// Who uses a certificate (listener ARNs): DescribeCertificate's
/// `InUseBy`, and what keeps DeleteCertificate from deleting it.
pub trait CertificateUsers: Send + Sync {
    fn users(&self, certificate_arn: &str) -> Vec<String>;
}

/// The ACM JSON service.
pub struct AcmService {
    store: Arc<dyn Store>,
    users: Option<Arc<dyn CertificateUsers>>,
}

/// A certificate by ARN, for the load balancers; `None` if there is none.
pub fn load(store: &dyn Store, arn: &str) -> Result<Option<CertificateRecord>, String> {
    let Some(id) = id_of(arn) else {
        return Ok(None);
    };
    match store.get(&model::key(id)).map_err(|e| e.to_string())? {
        None => Ok(None),
        Some(kv) => serde_json::from_slice(&kv.value)
            .map(Some)
            .map_err(|e| format!("certificate record {arn}: {e}")),
    }
}

fn id_of(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:aws:acm:")?;
    let (_, id) = rest.split_once(":certificate/")?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')).then_some(id)
}

fn err(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(code, message, 400)
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new("InternalFailure", e.to_string(), 500)
}

fn validation(message: impl Into<String>) -> ApiError {
    err("ValidationException", message)
}

fn str_field<'a>(input: &'a Value, name: &str) -> Result<Option<&'a str>, ApiError> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(validation(format!("{name} must be a string"))),
    }
}

fn required<'a>(input: &'a Value, name: &str) -> Result<&'a str, ApiError> {
    str_field(input, name)?.ok_or_else(|| {
        validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: \
             Member must not be null",
            lower_first(name)
        ))
    })
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
        .unwrap_or_default()
}

/// A blob member: base64 in JSON, PEM text inside.
fn blob(input: &Value, name: &str, max: usize) -> Result<Option<String>, ApiError> {
    let Some(b64) = str_field(input, name)? else {
        return Ok(None);
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| validation(format!("{name} is not valid base64")))?;
    if bytes.is_empty() || bytes.len() > max {
        return Err(validation(format!(
            "1 validation error detected: Value at '{}' failed to satisfy constraint: Member \
             must have length between 1 and {max}",
            lower_first(name)
        )));
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| validation(format!("{name} must be PEM text")))
}

fn tags(input: &Value) -> Result<Vec<(String, String)>, ApiError> {
    let Some(list) = input.get("Tags") else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| validation("Tags must be a list"))?;
    let mut out: Vec<(String, String)> = Vec::new();
    for t in list {
        let k = t.get("Key").and_then(Value::as_str).unwrap_or_default();
        if k.is_empty() || k.len() > 128 || k.starts_with("aws:") {
            return Err(err(
                "InvalidTagException",
                format!("Tag key '{k}' is invalid: 1 to 128 characters, not starting with aws:"),
            ));
        }
        let v = t.get("Value").and_then(Value::as_str).unwrap_or_default();
        if v.len() > 256 {
            return Err(err(
                "InvalidTagException",
                format!("The value of tag '{k}' is longer than 256 characters"),
            ));
        }
        out.retain(|(ok, _)| ok != k);
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

fn epoch(t: DateTime<Utc>) -> Value {
    json!(t.timestamp())
}

fn new_id() -> Result<String, ApiError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(internal)?;
    let h = hex::encode(b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

impl AcmService {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, users: None }
    }

    /// Tells the service who uses certificates (the load balancers).
    pub fn with_users(mut self, users: Arc<dyn CertificateUsers>) -> Self {
        self.users = Some(users);
        self
    }

    fn users_of(&self, arn: &str) -> Vec<String> {
        self.users
            .as_ref()
            .map(|u| u.users(arn))
            .unwrap_or_default()
    }

    /// The caller's certificate, with its store revision.
    fn own(&self, ctx: &CallContext, arn: &str) -> Result<(CertificateRecord, u64), ApiError> {
        let id = id_of(arn).ok_or_else(|| {
            err(
                "InvalidArnException",
                format!("String '{arn}' is not a valid ARN."),
            )
        })?;
        let not_found = || {
            err(
                "ResourceNotFoundException",
                format!("Could not find certificate {arn}."),
            )
        };
        let kv = self
            .store
            .get(&model::key(id))
            .map_err(internal)?
            .ok_or_else(not_found)?;
        let rec: CertificateRecord = serde_json::from_slice(&kv.value).map_err(internal)?;
        if rec.account != ctx.account || rec.arn != arn {
            return Err(not_found());
        }
        Ok((rec, kv.mod_revision))
    }

    fn save(&self, rec: &CertificateRecord, at: Option<u64>) -> Result<(), ApiError> {
        let bytes = serde_json::to_vec(rec).map_err(internal)?;
        let written = match at {
            None => self.store.create(&model::key(&rec.id), bytes),
            Some(rev) => self.store.update(&model::key(&rec.id), rev, bytes),
        }
        .map_err(internal)?;
        written.map(|_| ()).ok_or_else(|| {
            err(
                "ConflictException",
                format!("Certificate {} was changed meanwhile; retry", rec.arn),
            )
        })
    }

    fn import(&self, ctx: &CallContext, input: Value) -> Result<Value, ApiError> {
        let cert = blob(&input, "Certificate", 32_768)?.ok_or_else(|| {
            validation(
                "1 validation error detected: Value null at 'certificate' failed to satisfy \
                 constraint: Member must not be null",
            )
        })?;
        let key = blob(&input, "PrivateKey", 5_120)?.ok_or_else(|| {
            validation(
                "1 validation error detected: Value null at 'privateKey' failed to satisfy \
                 constraint: Member must not be null",
            )
        })?;
        let chain = blob(&input, "CertificateChain", 2_097_152)?.unwrap_or_default();
        let new_tags = tags(&input)?;
        let details = model::parse(&cert, &key, &chain).map_err(validation)?;
        if let Some(arn) = str_field(&input, "CertificateArn")? {
            // Re-import: same ARN, new contents; tags stay (AWS refuses new
            // ones here).
            if !new_tags.is_empty() {
                return Err(validation(
                    "Tags cannot be specified when re-importing a certificate",
                ));
            }
            let (mut rec, rev) = self.own(ctx, arn)?;
            rec.certificate_pem = cert;
            rec.chain_pem = chain;
            rec.key_pem = key;
            rec.details = details;
            rec.imported_at = ctx.now;
            self.save(&rec, Some(rev))?;
            return Ok(json!({ "CertificateArn": rec.arn }));
        }
        let id = new_id()?;
        let rec = CertificateRecord {
            arn: format!(
                "arn:aws:acm:{}:{}:certificate/{id}",
                ctx.region, ctx.account
            ),
            id,
            account: ctx.account.clone(),
            certificate_pem: cert,
            chain_pem: chain,
            key_pem: key,
            details,
            imported_at: ctx.now,
            created_at: ctx.now,
            tags: new_tags,
        };
        self.save(&rec, None)?;
        Ok(json!({ "CertificateArn": rec.arn }))
    }

    fn all(&self, ctx: &CallContext) -> Result<Vec<CertificateRecord>, ApiError> {
        let mut out = Vec::new();
        for kv in self.store.list(PREFIX).map_err(internal)? {
            let rec: CertificateRecord = serde_json::from_slice(&kv.value).map_err(internal)?;
            if rec.account == ctx.account {
                out.push(rec);
            }
        }
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.arn.cmp(&b.arn)));
        Ok(out)
    }

    fn describe(&self, ctx: &CallContext, input: Value) -> Result<Value, ApiError> {
        let (rec, _) = self.own(ctx, required(&input, "CertificateArn")?)?;
        let d = &rec.details;
        Ok(json!({ "Certificate": {
            "CertificateArn": rec.arn,
            "DomainName": d.domain,
            "SubjectAlternativeNames": d.sans,
            "Serial": d.serial,
            "Subject": d.subject,
            "Issuer": d.issuer,
            "ImportedAt": epoch(rec.imported_at),
            "Status": rec.status(ctx.now),
            "NotBefore": epoch(d.not_before),
            "NotAfter": epoch(d.not_after),
            "KeyAlgorithm": d.key_algorithm,
            "SignatureAlgorithm": d.signature_algorithm,
            "InUseBy": self.users_of(&rec.arn),
            "Type": "IMPORTED",
            "RenewalEligibility": "INELIGIBLE",
            "Options": { "CertificateTransparencyLoggingPreference": "ENABLED" },
        }}))
    }

    fn list(&self, ctx: &CallContext, input: Value) -> Result<Value, ApiError> {
        let statuses: Vec<String> = input
            .get("CertificateStatuses")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let max = match input.get("MaxItems") {
            None | Some(Value::Null) => 1000,
            Some(v) => v
                .as_u64()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| {
                    validation(
                        "1 validation error detected: Value at 'maxItems' failed to satisfy \
                         constraint: Member must have value between 1 and 1000",
                    )
                })? as usize,
        };
        let start = match str_field(&input, "NextToken")? {
            None => 0,
            Some(t) => t
                .parse::<usize>()
                .map_err(|_| err("InvalidArgsException", "The NextToken is not valid"))?,
        };
        let matching: Vec<CertificateRecord> = self
            .all(ctx)?
            .into_iter()
            .filter(|r| statuses.is_empty() || statuses.iter().any(|s| s == r.status(ctx.now)))
            .collect();
        let page: Vec<Value> = matching
            .iter()
            .skip(start)
            .take(max)
            .map(|r| {
                let d = &r.details;
                json!({
                    "CertificateArn": r.arn,
                    "DomainName": d.domain,
                    "SubjectAlternativeNameSummaries": d.sans,
                    "HasAdditionalSubjectAlternativeNames": false,
                    "Status": r.status(ctx.now),
                    "Type": "IMPORTED",
                    "KeyAlgorithm": d.key_algorithm,
                    "InUse": !self.users_of(&r.arn).is_empty(),
                    "RenewalEligibility": "INELIGIBLE",
                    "NotBefore": epoch(d.not_before),
                    "NotAfter": epoch(d.not_after),
                    "ImportedAt": epoch(r.imported_at),
                })
            })
            .collect();
        let mut out = json!({ "CertificateSummaryList": page });
        if start + max < matching.len() {
            out["NextToken"] = json!((start + max).to_string());
        }
        Ok(out)
    }

    fn get(&self, ctx: &CallContext, input: Value) -> Result<Value, ApiError> {
        let (rec, _) = self.own(ctx, required(&input, "CertificateArn")?)?;
        let mut out = json!({ "Certificate": rec.certificate_pem });
        if !rec.chain_pem.trim().is_empty() {
            out["CertificateChain"] = json!(rec.chain_pem);
        }
        Ok(out)
    }

    fn delete(&self, ctx: &CallContext, input: Value) -> Result<Value, ApiError> {
        let (rec, rev) = self.own(ctx, required(&input, "CertificateArn")?)?;
        let users = self.users_of(&rec.arn);
        if !users.is_empty() {
            return Err(err(
                "ResourceInUseException",
                format!("Certificate {} is in use by {}", rec.arn, users.join(", ")),
            ));
        }
        let r = self
            .store
            .txn(dockyard_store::Txn {
                compares: vec![dockyard_store::Compare::ModRevision(
                    model::key(&rec.id),
                    rev,
                )],
                success: vec![dockyard_store::Op::Delete {
                    key: model::key(&rec.id),
                }],
                failure: vec![],
            })
            .map_err(internal)?;
        if !r.succeeded {
            return Err(err(
                "ConflictException",
                format!("Certificate {} was changed meanwhile; retry", rec.arn),
            ));
        }
        Ok(json!({}))
    }

    fn add_tags(&self, ctx: &CallContext, input: Value) -> Result<Value, ApiError> {
        let (mut rec, rev) = self.own(ctx, required(&input, "CertificateArn")?)?;
        let new = tags(&input)?;
        if new.is_empty() {
            return Err(validation("Tags must name at least one tag"));
        }
        for (k, v) in new {
            rec.tags.retain(|(ok, _)| *ok != k);
            rec.tags.push((k, v));
        }
        if rec.tags.len() > 50 {
            return Err(err(
                "TooManyTagsException",
                "A certificate can have at most 50 tags",
            ));
        }
        self.save(&rec, Some(rev))?;
        Ok(json!({}))
    }

    fn remove_tags(&self, ctx: &CallContext, input: Value) -> Result<Value, ApiError> {
        let (mut rec, rev) = self.own(ctx, required(&input, "CertificateArn")?)?;
        let list = input
            .get("Tags")
            .and_then(Value::as_array)
            .ok_or_else(|| validation("Tags must name at least one tag"))?;
        for t in list {
            let k = t.get("Key").and_then(Value::as_str).unwrap_or_default();
            let v = t.get("Value").and_then(Value::as_str);
            rec.tags
                .retain(|(ok, ov)| !(ok == k && v.is_none_or(|v| v == ov)));
        }
        self.save(&rec, Some(rev))?;
        Ok(json!({}))
    }

    fn list_tags(&self, ctx: &CallContext, input: Value) -> Result<Value, ApiError> {
        let (rec, _) = self.own(ctx, required(&input, "CertificateArn")?)?;
        let tags: Vec<Value> = rec
            .tags
            .iter()
            .map(|(k, v)| json!({ "Key": k, "Value": v }))
            .collect();
        Ok(json!({ "Tags": tags }))
    }
}

impl JsonService for AcmService {
    fn target_prefix(&self) -> &str {
        TARGET_PREFIX
    }

    fn signing_name(&self) -> &str {
        "acm"
    }

    fn call(&self, ctx: &CallContext, operation: &str, input: Value) -> Result<Value, ApiError> {
        match operation {
            "ImportCertificate" => self.import(ctx, input),
            "DescribeCertificate" => self.describe(ctx, input),
            "ListCertificates" => self.list(ctx, input),
            "GetCertificate" => self.get(ctx, input),
            "DeleteCertificate" => self.delete(ctx, input),
            "AddTagsToCertificate" => self.add_tags(ctx, input),
            "RemoveTagsFromCertificate" => self.remove_tags(ctx, input),
            "ListTagsForCertificate" => self.list_tags(ctx, input),
            "RequestCertificate"
            | "ExportCertificate"
            | "RenewCertificate"
            | "ResendValidationEmail" => Err(validation(format!(
                "{operation} is not supported: Dockyard cannot validate domains, so it holds \
                 only certificates imported with ImportCertificate"
            ))),
            other => Err(ApiError::unknown_operation(other)),
        }
    }

    fn timestamp_members(&self) -> &[&'static str] {
        &["ImportedAt", "NotBefore", "NotAfter", "CreatedAt"]
    }
}

#[cfg(test)]
mod tests;
