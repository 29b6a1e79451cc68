//! `--env NAME` overlays: the sibling file merged over a config (`loadtide.staging.toml`
//! over `loadtide.toml`), read and checked here, and the keys it sets for `check`.

use std::path::{Path, PathBuf};

use figment::providers::{Format, Toml, Yaml};
use figment::Figment;

use super::parse_errors::key_path;
use super::{figment_errors, is_yaml, ConfigErrors};

/// The overlay of environment `env` for the config at `base`: `loadtide.toml` and `staging`
/// give `loadtide.staging.toml` beside it (same extension).
pub fn overlay_path(base: &Path, env: &str) -> PathBuf {
    let stem = base
        .file_stem()
        .map_or_else(|| "loadtide".into(), |s| s.to_string_lossy().into_owned());
    let name = match base.extension() {
        Some(ext) => format!("{stem}.{env}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{env}"),
    };
    base.with_file_name(name)
}

/// The overlay file of `--env NAME`, checked and read: its path and its text.
pub(super) fn read_overlay(base: &Path, env: &str) -> Result<(PathBuf, String), ConfigErrors> {
    let valid = !env.is_empty()
        && env
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(ConfigErrors::one(
            "command line",
            "",
            format!("invalid --env {env:?}: letters, digits, '-' and '_' (e.g. \"staging\")"),
        ));
    }
    let path = overlay_path(base, env);
    let what = format!("the overlay of --env {env}");
    let text = super::source::read_text(&path, &what)
        .map_err(|m| ConfigErrors::one(&path.display().to_string(), "", m))?;
    Ok((path, text))
}

/// The keys the overlay of `env` sets, as `a.b[0].c` paths in file order of the tables.
pub fn overlay_keys(base: &Path, env: &str) -> Result<(PathBuf, Vec<String>), ConfigErrors> {
    let (path, text) = read_overlay(base, env)?;
    let file = path.display().to_string();
    let figment = if is_yaml(&path) {
        Figment::from(Yaml::string(&text))
    } else {
        Figment::from(Toml::string(&text))
    };
    let value: figment::value::Value = figment.extract().map_err(|e| figment_errors(&file, e))?;
    let mut keys = Vec::new();
    leaf_keys(&value, &mut Vec::new(), &mut keys);
    Ok((path, keys))
}

fn leaf_keys(v: &figment::value::Value, at: &mut Vec<String>, out: &mut Vec<String>) {
    use figment::value::Value;
    match v {
        Value::Dict(_, d) if !d.is_empty() => {
            for (k, v) in d {
                at.push(k.clone());
                leaf_keys(v, at, out);
                at.pop();
            }
        }
        _ => out.push(key_path(at)),
    }
}
