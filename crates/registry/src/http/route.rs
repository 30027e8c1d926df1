//! URL paths of the Distribution API. Names hold slashes, so a path is
//! read from its end: `.../tags/list`, `.../blobs/uploads/<id>`,
//! `.../blobs/<digest>`, `.../manifests/<reference>`,
//! `.../referrers/<digest>`; what precedes is the name.

use percent_encoding::percent_decode_str;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/v2/`
    Base,
    /// `/v2/_catalog`
    Catalog,
    Tags {
        name: String,
    },
    Manifest {
        name: String,
        reference: String,
    },
    Blob {
        name: String,
        digest: String,
    },
    /// `/v2/<name>/blobs/uploads/`
    Uploads {
        name: String,
    },
    Upload {
        name: String,
        id: String,
    },
    Referrers {
        name: String,
        digest: String,
    },
}

impl Route {
    pub fn parse(path: &str) -> Option<Self> {
        let rest = path.strip_prefix("/v2")?;
        if rest.is_empty() || rest == "/" {
            return Some(Self::Base);
        }
        let rest = rest.strip_prefix('/')?;
        if rest == "_catalog" {
            return Some(Self::Catalog);
        }
        let segs = rest
            .split('/')
            .map(|s| percent_decode_str(s).decode_utf8().ok())
            .collect::<Option<Vec<_>>>()?;
        let n = segs.len();
        let name_of = |end: usize| (end > 0).then(|| segs[..end].join("/"));
        let last = segs[n - 1].to_string();
        if n >= 3 && segs[n - 2] == "tags" && segs[n - 1] == "list" {
            return Some(Self::Tags {
                name: name_of(n - 2)?,
            });
        }
        if n >= 4 && segs[n - 3] == "blobs" && segs[n - 2] == "uploads" {
            let name = name_of(n - 3)?;
            return Some(if last.is_empty() {
                Self::Uploads { name }
            } else {
                Self::Upload { name, id: last }
            });
        }
        if n >= 3 && segs[n - 2] == "blobs" && segs[n - 1] == "uploads" {
            return Some(Self::Uploads {
                name: name_of(n - 2)?,
            });
        }
        if n < 2 {
            return None;
        }
        let name = name_of(n - 2)?;
        match segs[n - 2].as_ref() {
            "blobs" => Some(Self::Blob { name, digest: last }),
            "manifests" => Some(Self::Manifest {
                name,
                reference: last,
            }),
            "referrers" => Some(Self::Referrers { name, digest: last }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(p: &str) -> Option<Route> {
        Route::parse(p)
    }

    #[test]
    fn paths() {
        assert_eq!(r("/v2/"), Some(Route::Base));
        assert_eq!(r("/v2"), Some(Route::Base));
        assert_eq!(r("/v2/_catalog"), Some(Route::Catalog));
        assert_eq!(
            r("/v2/team/app/tags/list"),
            Some(Route::Tags {
                name: "team/app".into()
            })
        );
        assert_eq!(
            r("/v2/a/blobs/uploads/"),
            Some(Route::Uploads { name: "a".into() })
        );
        assert_eq!(
            r("/v2/a/blobs/uploads"),
            Some(Route::Uploads { name: "a".into() })
        );
        assert_eq!(
            r("/v2/a/b/blobs/uploads/abc"),
            Some(Route::Upload {
                name: "a/b".into(),
                id: "abc".into()
            })
        );
        assert_eq!(
            r("/v2/a/blobs/sha256%3Aabc"),
            Some(Route::Blob {
                name: "a".into(),
                digest: "sha256:abc".into()
            })
        );
        // A repository may be called `blobs` or `manifests`.
        assert_eq!(
            r("/v2/blobs/manifests/manifests/v1"),
            Some(Route::Manifest {
                name: "blobs/manifests".into(),
                reference: "v1".into()
            })
        );
        assert_eq!(
            r("/v2/x/referrers/sha256:1"),
            Some(Route::Referrers {
                name: "x".into(),
                digest: "sha256:1".into()
            })
        );
        for bad in [
            "/v3/",
            "/v2x",
            "/v2/a",
            "/v2/a/unknown/x",
            "/v2/manifests/v1",
            "/v2/tags/list",
            "/v2/a/%ff/tags/list",
        ] {
            assert_eq!(r(bad), None, "{bad}");
        }
    }
}
