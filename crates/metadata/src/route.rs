//! Request paths decoded into the operation they ask for. The paths are
//! the ECS agent's (`agent/handlers/task_server_setup.go`).

use crate::render::ApiVersion;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `/v4/<token>`
    Container { version: ApiVersion, token: String },
    /// `/v4/<token>/task`, `/v4/<token>/taskWithTags`
    Task {
        version: ApiVersion,
        token: String,
        with_tags: bool,
    },
    /// `/v4/<token>/stats`
    ContainerStats { version: ApiVersion, token: String },
    /// `/v4/<token>/task/stats`
    TaskStats { version: ApiVersion, token: String },
    /// `/v2/credentials/<id>`, or `/v1/credentials?id=<id>`; an empty id
    /// is the caller's mistake, answered as the agent does.
    Credentials { api: CredentialsApi, id: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CredentialsApi {
    V1,
    V2,
}

/// The endpoint a path asks for; `None` for a path the agent does not
/// serve. Tokens are taken as they appear in the path: the agent hands out
/// tokens that need no escaping.
pub(crate) fn route(path: &str, query: Option<&str>) -> Option<Endpoint> {
    if let Some(id) = path.strip_prefix("/v2/credentials/") {
        return Some(Endpoint::Credentials {
            api: CredentialsApi::V2,
            id: id.to_owned(),
        });
    }
    if path == "/v1/credentials" {
        let id = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .find(|(k, _)| k == "id")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        return Some(Endpoint::Credentials {
            api: CredentialsApi::V1,
            id,
        });
    }
    let (version, rest) = if let Some(rest) = path.strip_prefix("/v4/") {
        (ApiVersion::V4, rest)
    } else if let Some(rest) = path.strip_prefix("/v3/") {
        (ApiVersion::V3, rest)
    } else {
        return None;
    };
    let (token, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let token = token.to_owned();
    let endpoint = match tail {
        "" if !rest.ends_with('/') => Endpoint::Container { version, token },
        "task" => Endpoint::Task {
            version,
            token,
            with_tags: false,
        },
        "taskWithTags" => Endpoint::Task {
            version,
            token,
            with_tags: true,
        },
        "stats" => Endpoint::ContainerStats { version, token },
        "task/stats" => Endpoint::TaskStats { version, token },
        _ => return None,
    };
    Some(endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(v: ApiVersion, t: &str) -> Option<Endpoint> {
        Some(Endpoint::Container {
            version: v,
            token: t.into(),
        })
    }

    #[test]
    fn metadata_paths() {
        use ApiVersion::{V3, V4};
        assert_eq!(route("/v4/abc", None), container(V4, "abc"));
        assert_eq!(route("/v3/abc", None), container(V3, "abc"));
        assert_eq!(
            route("/v4/abc/task", None),
            Some(Endpoint::Task {
                version: V4,
                token: "abc".into(),
                with_tags: false
            })
        );
        assert_eq!(
            route("/v4/abc/taskWithTags", None),
            Some(Endpoint::Task {
                version: V4,
                token: "abc".into(),
                with_tags: true
            })
        );
        assert_eq!(
            route("/v4/abc/stats", None),
            Some(Endpoint::ContainerStats {
                version: V4,
                token: "abc".into()
            })
        );
        assert_eq!(
            route("/v4/abc/task/stats", None),
            Some(Endpoint::TaskStats {
                version: V4,
                token: "abc".into()
            })
        );
        // An empty token is a lookup that fails, as in the agent.
        assert_eq!(route("/v4/", None), container(V4, ""));
    }

    #[test]
    fn other_paths_are_not_served() {
        for p in [
            "/",
            "/v4",
            "/v4/abc/",
            "/v4/abc/tasks",
            "/v4/abc/task/",
            "/v4/abc/task/stats/x",
            "/v4/abc/stats/",
            "/v2/abc",
            "/v2/credentials",
            "/v5/abc",
            "/latest/meta-data",
        ] {
            assert_eq!(route(p, None), None, "{p}");
        }
    }

    #[test]
    fn credentials_paths() {
        let v2 = |id: &str| {
            Some(Endpoint::Credentials {
                api: CredentialsApi::V2,
                id: id.into(),
            })
        };
        assert_eq!(route("/v2/credentials/abc-123", None), v2("abc-123"));
        assert_eq!(route("/v2/credentials/", None), v2(""));
        // The agent's id pattern is `.*`.
        assert_eq!(route("/v2/credentials/a/b", None), v2("a/b"));
        let v1 = |id: &str| {
            Some(Endpoint::Credentials {
                api: CredentialsApi::V1,
                id: id.into(),
            })
        };
        assert_eq!(route("/v1/credentials", Some("id=abc%2F1")), v1("abc/1"));
        assert_eq!(route("/v1/credentials", Some("x=1&id=z")), v1("z"));
        assert_eq!(route("/v1/credentials", None), v1(""));
    }
}
