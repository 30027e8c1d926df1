//! Task volumes, ECS's `Volume` and its configurations.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Volume {
    pub name: String,
    /// A bind mount: of `source_path` on the host, or (no source path) of a
    /// directory the task owns. Registration fills an empty one when the
    /// volume names no other configuration, as ECS returns it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<HostVolumeProperties>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_volume_configuration: Option<DockerVolumeConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub efs_volume_configuration: Option<EfsVolumeConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3files_volume_configuration: Option<S3FilesVolumeConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fsx_windows_file_server_volume_configuration:
        Option<FSxWindowsFileServerVolumeConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configured_at_launch: Option<bool>,
}

impl Volume {
    /// The host path bound into the task, for a host volume that has one.
    pub fn source_path(&self) -> Option<&str> {
        self.host.as_ref()?.source_path.as_deref()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HostVolumeProperties {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_path: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DockerVolumeConfiguration {
    /// `task` or `shared`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoprovision: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_opts: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EfsVolumeConfiguration {
    pub file_system_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_directory: Option<String>,
    /// `ENABLED` or `DISABLED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transit_encryption: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transit_encryption_port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_config: Option<EfsAuthorizationConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EfsAuthorizationConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_point_id: Option<String>,
    /// `ENABLED` or `DISABLED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iam: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct S3FilesVolumeConfiguration {
    pub file_system_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_directory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transit_encryption_port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_point_arn: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FSxWindowsFileServerVolumeConfiguration {
    pub file_system_id: String,
    pub root_directory: String,
    pub authorization_config: FSxWindowsFileServerAuthorizationConfig,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FSxWindowsFileServerAuthorizationConfig {
    pub credentials_parameter: String,
    pub domain: String,
}
